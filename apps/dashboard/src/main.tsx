import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { createBrowserRouter, RouterProvider } from 'react-router';
import { Layout } from './layout';
import { EventsProvider } from './live/events-context';
import { ROUTES } from './routes';
import { Session } from './session';
import './styles.css';

const router = createBrowserRouter(
  [{ element: <Layout />, children: ROUTES.map(({ path, element }) => ({ path, element })) }],
  { basename: '/ui' },
);

const root = document.getElementById('root');
if (!root) throw new Error('no #root element');
createRoot(root).render(
  <StrictMode>
    <Session>
      <EventsProvider>
        <RouterProvider router={router} />
      </EventsProvider>
    </Session>
  </StrictMode>,
);
