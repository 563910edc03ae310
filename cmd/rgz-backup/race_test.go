//go:build race

package main

// Under the race detector, the binary the tests run is built with it too.
func init() { buildFlags = append(buildFlags, "-race") }
