import type { ReactNode } from 'react';
import { ExperimentPage } from './pages/experiment.page';
import { ExperimentsPage } from './pages/experiments.page';
import { NotFoundPage } from './pages/not-found.page';
import { RunnersPage } from './pages/runners.page';
import { TaskPage } from './pages/task.page';
import { TicketPage } from './pages/ticket.page';
import { TicketsPage } from './pages/tickets.page';

export interface PageRoute {
  /** Under /ui (the router's basename). */
  path: string;
  element: ReactNode;
  /** A label puts the page in the header's navigation. */
  nav?: string;
}

/** Every page of the dashboard: add a page here (and its file in pages/). */
export const ROUTES: readonly PageRoute[] = [
  { path: '/', element: <TicketsPage />, nav: 'Tickets' },
  { path: '/tickets/:ticketId', element: <TicketPage /> },
  { path: '/tasks/:taskId', element: <TaskPage /> },
  { path: '/experiments', element: <ExperimentsPage />, nav: 'Experiments' },
  { path: '/experiments/:experimentId', element: <ExperimentPage /> },
  { path: '/runners', element: <RunnersPage />, nav: 'Runners' },
  { path: '*', element: <NotFoundPage /> },
];
