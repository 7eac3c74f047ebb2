/** What `ledgerline services` reports for each backing service (Kafka, Postgres, Redis). */
export interface ServiceStatus {
  name: string;
  /** Where clients connect (e.g. `127.0.0.1:9092`, a postgres:// or redis:// URL). */
  url: string;
  /** true when Ledgerline starts/stops the service itself; false when it comes from the environment. */
  managed: boolean;
  running: boolean;
  detail?: string;
}
