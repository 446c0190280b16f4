//go:build noasm || !amd64

package blas

// Only the portable kernel is compiled in.
