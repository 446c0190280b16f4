package checkpoint

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/pkg/errors"

	"github.com/retina-ml/retina/internal/atomicfile"
)

// Write stores f at path atomically, with [atomicfile.WriteFunc]: f is
// validated, encoded into a temporary file next to path, synced and renamed
// onto path, and the directory is synced. On any error before the rename a
// file already at path is left as it was. Temporary files that killed
// writers left next to path are removed. The file gets mode 0644, whatever
// the mode of the file it replaces; if path is a symbolic link, the link
// itself is replaced.
func Write(path string, f *File) error {
	hdr, err := prepare(f)
	if err != nil {
		return withPath(err, path)
	}
	err = atomicfile.WriteFunc(path, func(w io.Writer) error { return encode(w, f, hdr) })
	var e *Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &e): // from encode
		return withPath(err, path)
	}
	// atomicfile's message starts with its own name and the path.
	msg := strings.TrimPrefix(err.Error(), "atomicfile: "+path+": ")
	return &Error{Path: path, Offset: -1, Err: err, Msg: msg}
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
