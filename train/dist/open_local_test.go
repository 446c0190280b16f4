//go:build !(mpi && cgo)

package dist

import "testing"

func TestOpenUnderMpirunWithoutMPI(t *testing.T) {
	unsetLaunchEnv(t)
	t.Setenv("OMPI_COMM_WORLD_SIZE", "2")
	if r, err := Open(); err == nil {
		t.Errorf("Open in a 2-process job without MPI = %v, want an error", r)
	}
	t.Setenv("OMPI_COMM_WORLD_SIZE", "1")
	if r, err := Open(); err != nil || r != (Local{}) {
		t.Errorf("Open in a 1-process job without MPI = %v, %v; want Local", r, err)
	}
	unsetLaunchEnv(t)
	t.Setenv("PMIX_RANK", "0")
	if r, err := Open(); err != nil || r != (Local{}) {
		t.Errorf("Open with only PMIX_RANK = %v, %v; want Local", r, err)
	}
}
