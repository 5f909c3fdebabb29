// The throwaway PostgreSQL the tests start (one per test file) lives with the bench, which starts one too.
export { startTestPostgres, truncateLedger, type TestPostgres } from '../bench/throwaway-postgres.js';
