// Package testenv holds no code of its own: its packages are the real
// parts the tests, the demo and the benchmarks run against — throwaway
// PostgreSQL clusters (pgtest), MinIO (s3test), OpenSSH (sshtest), Azurite
// (azuritetest), Mailpit (mailtest), the programs the install script gives
// them (testtool), the sample database (sample) and a test's shared setup
// (fixture). The product never imports them; keeping them here leaves
// internal/ as the list of what the product does.
package testenv
