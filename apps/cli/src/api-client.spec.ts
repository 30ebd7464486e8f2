import { DroverApi } from './api-client';

describe('DroverApi.linksTo', () => {
  it("gives the API's URL of a ticket or experiment, and the dashboard's when one is set", () => {
    expect(new DroverApi('http://127.0.0.1:8080').linksTo('tickets', 'abc')).toEqual({
      url: 'http://127.0.0.1:8080/tickets/abc',
    });
    const api = new DroverApi(
      'https://api.example.com/drover',
      'k',
      'https://dash.example.com/app/',
    );
    expect(api.linksTo('experiments', 'e1')).toEqual({
      url: 'https://api.example.com/drover/experiments/e1',
      dashboardUrl: 'https://dash.example.com/app/experiments/e1',
    });
  });
});
