package checkpoint

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
)

// newFileMode is the permission of a checkpoint that replaces no file.
const newFileMode fs.FileMode = 0o644

// Write stores f at path atomically: f is validated, encoded into a
// temporary file next to path, synced to disk and renamed onto path, and the
// directory is synced so the rename survives a crash. On any error before
// the rename the temporary file is removed and a file already at path is
// left as it was. A replaced file's permission bits carry over to the new
// one; a new file gets 0644 (best effort, independent of the umask). If
// path is a symbolic link, the link itself is replaced by the new file.
func Write(path string, f *File) error {
	hdr, err := prepare(f)
	if err != nil {
		return withPath(err, path)
	}
	mode := newFileMode
	if fi, err := os.Stat(path); err == nil && fi.Mode().IsRegular() {
		mode = fi.Mode().Perm()
	}
	ioErr := func(what string, err error) error {
		return &Error{Path: path, Offset: -1, Err: err, Msg: fmt.Sprintf("%s: %v", what, err)}
	}

	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, base+".tmp-*")
	if err != nil {
		return ioErr("creating temporary file", err)
	}
	tmpName := tmp.Name()
	renamed := false
	defer func() {
		if !renamed {
			tmp.Close() // may already be closed; the error is moot
			os.Remove(tmpName)
		}
	}()

	_ = tmp.Chmod(mode) // best effort: some filesystems have no permissions
	if err := encode(tmp, f, hdr); err != nil {
		return withPath(err, path)
	}
	if err := tmp.Sync(); err != nil {
		return ioErr("syncing "+tmpName, err)
	}
	if err := tmp.Close(); err != nil {
		return ioErr("closing "+tmpName, err)
	}
	if err := os.Rename(tmpName, path); err != nil {
		return ioErr("replacing file", err)
	}
	renamed = true
	if err := syncDir(dir); err != nil {
		return ioErr("syncing directory "+dir+" (the checkpoint is written but may not survive a crash)", err)
	}
	return nil
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
	if errors.Is(err, syscall.EINVAL) || errors.Is(err, errors.ErrUnsupported) {
		return nil // e.g. some network and FUSE filesystems
	}
	return err
}

// Read loads and fully validates the checkpoint at path. Errors name path.
func Read(path string) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, &Error{Path: path, Offset: -1, Err: err, Msg: fmt.Sprintf("opening: %v", err)}
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		return nil, &Error{Path: path, Offset: -1, Err: err, Msg: fmt.Sprintf("stat: %v", err)}
	}
	if fi.IsDir() {
		return nil, &Error{Path: path, Offset: -1, Kind: ErrCorrupt, Msg: "is a directory, want a checkpoint file"}
	}
	size := int64(-1)
	if fi.Mode().IsRegular() {
		size = fi.Size()
	}
	return decode(bufio.NewReaderSize(fh, chunkLen), size, path)
}
