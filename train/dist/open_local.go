//go:build !(mpi && cgo)

package dist

import "fmt"

// openMPI is called when the process was started by mpirun. This build has
// no MPI: a job of one process runs with Local; a larger job is refused, as
// its ranks could not communicate.
func openMPI(size int) (AllReducer, error) {
	if size > 1 {
		return nil, fmt.Errorf("dist: started by mpirun with %d processes, but this program was built without MPI (build with -tags mpi and cgo enabled)", size)
	}
	return Local{}, nil
}
