// Package blastest helps tests that need Retina's pure-Go matrix
// multiplies, whose results do not depend on the thread count.
package blastest

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

const childEnv = "RETINA_BLASTEST_CHILD"

// RerunOnPureGo makes the calling test run on the pure-Go backend: when
// backend (ops.Backend()) is another, it runs the test again in a child
// process with RETINA_BLAS=go, fails t if the child fails, and returns true
// (the caller then returns). On the pure-Go backend it returns false.
func RerunOnPureGo(t *testing.T, backend string) bool {
	t.Helper()
	if strings.HasPrefix(backend, "go-") {
		return false
	}
	if os.Getenv(childEnv) != "" {
		t.Fatalf("backend %s with RETINA_BLAS=go", backend)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v")
	cmd.Env = append(os.Environ(), childEnv+"=1", "RETINA_BLAS=go")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("RETINA_BLAS=go: %v\n%s", err, out)
	}
	return true
}
