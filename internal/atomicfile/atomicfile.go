// Package atomicfile replaces files atomically: a reader sees either the old
// content or the new, never a mix, and a failed or interrupted write leaves
// the old file as it was. It is the one place in Retina that writes files
// this way (checkpoints, config.json, metrics.json).
//
// A write goes to a temporary file "<base>.tmp-<digits>" in the target's
// directory, which is synced, closed, given mode 0644, renamed onto the
// target, and then the directory is synced so that the rename survives a
// crash. On any failure the temporary file is removed. A process killed in
// the middle of a write cannot remove its temporary file, so every write
// first removes the stale "<base>.tmp-<digits>" regular files next to its
// target, except those this process is writing at that moment.
//
// Only writers in this process are known: two processes writing the same
// target at the same time may remove each other's temporary file, which
// makes the later rename fail with an error (the target stays a complete
// file, from one of them). Retina writes each file from one process.
package atomicfile

import (
	stderrors "errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"

	"github.com/pkg/errors"
)

// Mode is the permission of every file written (best effort on filesystems
// without Unix permissions); it does not depend on the umask.
const Mode fs.FileMode = 0o644

// tmpInfix separates the target's name from the random digits in the name
// of its temporary file.
const tmpInfix = ".tmp-"

var (
	mu sync.Mutex
	// inFlight holds the base names of the temporary files this process is
	// writing now, which removeStale must leave alone.
	inFlight = map[string]bool{}
)

// Write stores data at path atomically, with mode [Mode]. It is [WriteFunc]
// with a function that writes data.
func Write(path string, data []byte) error {
	return WriteFunc(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return errors.Wrapf(err, "atomicfile: %s: writing", path)
	})
}

// WriteFunc stores what write writes at path atomically, with mode [Mode].
// write gets the temporary file, unbuffered; if it returns an error or
// panics, path is left as it was, the temporary file is removed and the
// error is returned as is (or the panic goes on). Other errors name path and
// the step that failed. If path is a symbolic link, the link is replaced,
// not its target. An error from syncing the directory comes after the
// rename: path then holds the new content, which might not survive a crash.
func WriteFunc(path string, write func(io.Writer) error) error {
	dir, base := filepath.Split(path)
	if base == "" {
		return errors.Errorf("atomicfile: %q: no file name", path)
	}
	if dir == "" {
		dir = "."
	}
	removeStale(dir, base)
	tmp, err := create(dir, base)
	if err != nil {
		return errors.Wrapf(err, "atomicfile: %s: creating temporary file", path)
	}
	name := tmp.Name()
	renamed := false
	defer func() {
		if !renamed {
			tmp.Close() // may already be closed; the write has failed anyway
			os.Remove(name)
		}
		mu.Lock()
		delete(inFlight, filepath.Base(name))
		mu.Unlock()
	}()

	if err := write(tmp); err != nil {
		return err
	}
	_ = tmp.Chmod(Mode) // best effort: some filesystems have no permissions
	if err := tmp.Sync(); err != nil {
		return errors.Wrapf(err, "atomicfile: %s: syncing", path)
	}
	if err := tmp.Close(); err != nil {
		return errors.Wrapf(err, "atomicfile: %s: closing", path)
	}
	if err := os.Rename(name, path); err != nil {
		return errors.Wrapf(err, "atomicfile: %s: replacing", path)
	}
	renamed = true
	return errors.Wrapf(syncDir(dir), "atomicfile: %s: written, but syncing directory %s", path, dir)
}

// create makes the temporary file for dir/base and records it as in flight,
// under the lock so that removeStale never sees it unrecorded.
func create(dir, base string) (*os.File, error) {
	mu.Lock()
	defer mu.Unlock()
	tmp, err := os.CreateTemp(dir, base+tmpInfix+"*")
	if err == nil {
		inFlight[filepath.Base(tmp.Name())] = true
	}
	return tmp, err
}

// removeStale removes, best effort, the regular files in dir named
// base+".tmp-" followed by decimal digits (what [os.CreateTemp] makes of the
// pattern), except those this process is writing.
func removeStale(dir, base string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return // creating the temporary file will report the problem
	}
	for _, e := range ents {
		if !isTemp(e.Name(), base) || !e.Type().IsRegular() {
			continue
		}
		mu.Lock()
		if !inFlight[e.Name()] {
			os.Remove(filepath.Join(dir, e.Name()))
		}
		mu.Unlock()
	}
}

// isTemp reports whether name is a temporary file name for base.
func isTemp(name, base string) bool {
	digits, ok := strings.CutPrefix(name, base+tmpInfix)
	if !ok || digits == "" {
		return false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// syncDir fsyncs directory dir, so that a rename in it is durable. Platforms
// and filesystems that cannot sync a directory are not an error.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" {
		return nil // directories cannot be opened for syncing there
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, syscall.EINVAL) || errors.Is(err, stderrors.ErrUnsupported) {
		return nil // e.g. some network and FUSE filesystems
	}
	return err
}
