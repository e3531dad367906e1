/** What every page module gives the router. */

export interface Page {
  /** The document title and the page's heading. */
  title: string;
  /** Stream topics that make the page fetch again: devices, lines, leases, registrations, calls, status, site, events. */
  topics: string[];
  /** Builds the page into `main` and fetches what it shows. */
  mount(main: HTMLElement): Promise<void>;
  /** Fetches again and updates in place (forms being filled in are left alone). */
  refresh?(): Promise<void>;
  dispose?(): void;
}

export type PageFactory = (params: string[], query: URLSearchParams) => Page;
