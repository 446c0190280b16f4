package atomicfile_test

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/pkg/errors"

	"github.com/retina-ml/retina/internal/atomicfile"
)

// names returns the sorted names in dir.
func names(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var s []string
	for _, e := range ents {
		s = append(s, e.Name())
	}
	return s
}

func TestWrite(t *testing.T) {
	tests := []struct {
		name    string
		old     []byte      // existing content, or nil for none
		oldMode os.FileMode // its mode
		data    []byte
	}{
		{"new file", nil, 0, []byte(`{"a":1}` + "\n")},
		{"replaces a 0600 file", []byte("old content, longer than the new"), 0o600, []byte("new")},
		{"replaces a 0755 file", []byte("x"), 0o755, []byte("y")},
		{"empty", []byte("x"), 0o644, []byte{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "metrics.json")
			if tc.old != nil {
				if err := os.WriteFile(path, tc.old, tc.oldMode); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(path, tc.oldMode); err != nil {
					t.Fatal(err)
				}
			}
			if err := atomicfile.Write(path, tc.data); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(path)
			if err != nil || !bytes.Equal(got, tc.data) {
				t.Fatalf("file holds %q, %v; want %q", got, err, tc.data)
			}
			if n := names(t, dir); !slices.Equal(n, []string{"metrics.json"}) {
				t.Fatalf("directory holds %q, want only metrics.json", n)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if runtime.GOOS != "windows" && fi.Mode() != atomicfile.Mode {
				t.Fatalf("mode %v, want %v", fi.Mode(), atomicfile.Mode)
			}
		})
	}
}

func TestWriteFuncFailureKeepsOldFile(t *testing.T) {
	errBoom := errors.New("boom")
	tests := []struct {
		name  string
		write func(io.Writer) error
		panic bool
	}{
		{"error before writing", func(io.Writer) error { return errBoom }, false},
		{"error midway", func(w io.Writer) error {
			if _, err := w.Write(bytes.Repeat([]byte("partial"), 10000)); err != nil {
				return err
			}
			return errBoom
		}, false},
		{"panic midway", func(w io.Writer) error {
			w.Write([]byte("partial"))
			panic(errBoom)
		}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "checkpoint.ckpt")
			if err := atomicfile.Write(path, []byte("previous")); err != nil {
				t.Fatal(err)
			}
			err := func() (err error) {
				defer func() {
					if r := recover(); r != nil {
						err = r.(error)
					}
				}()
				return atomicfile.WriteFunc(path, tc.write)
			}()
			if err != errBoom {
				t.Fatalf("WriteFunc = %v, want the write function's error (or panic) as is", err)
			}
			if got, _ := os.ReadFile(path); string(got) != "previous" {
				t.Fatalf("file holds %q after a failed write, want %q", got, "previous")
			}
			if n := names(t, dir); !slices.Equal(n, []string{"checkpoint.ckpt"}) {
				t.Fatalf("directory holds %q, want only checkpoint.ckpt", n)
			}
		})
	}
}

func TestWriteErrors(t *testing.T) {
	dir := t.TempDir()
	// The destination is a non-empty directory: everything but the rename works.
	busy := filepath.Join(dir, "busy")
	if err := os.MkdirAll(filepath.Join(busy, "keep"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path string
		want       string // substring of the error
	}{
		{"missing directory", filepath.Join(dir, "no", "such", "f.json"), "creating temporary file"},
		{"rename onto a directory", busy, "replacing"},
		{"no file name", dir + string(filepath.Separator), "no file name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := atomicfile.Write(tc.path, []byte("x"))
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.path) {
				t.Fatalf("Write(%s) = %v, want an error naming the path and containing %q", tc.path, err, tc.want)
			}
			if n := names(t, dir); !slices.Equal(n, []string{"busy"}) {
				t.Fatalf("directory holds %q, want only busy", n)
			}
		})
	}
}

// TestStaleTempsRemoved: what a killed writer left behind is removed by the
// next write of the same target, and nothing else is.
func TestStaleTempsRemoved(t *testing.T) {
	dir := t.TempDir()
	files := map[string]bool{ // name: removed by writing checkpoint.ckpt
		"checkpoint.ckpt.tmp-1":          true,
		"checkpoint.ckpt.tmp-4294967295": true,
		"checkpoint.ckpt.tmp-":           false,
		"checkpoint.ckpt.tmp-12x":        false,
		"checkpoint.ckpt.tmp-1.bak":      false,
		"checkpoint.ckpt.tmp":            false,
		"xcheckpoint.ckpt.tmp-1":         false,
		"other.ckpt.tmp-1":               false,
		"config.json.tmp-77":             false,
		"checkpoint.ckpt.tmp-2/":         false, // a directory
	}
	for name := range files {
		p := filepath.Join(dir, name)
		var err error
		if strings.HasSuffix(name, "/") {
			err = os.Mkdir(p, 0o755)
		} else {
			err = os.WriteFile(p, []byte("stale"), 0o600)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := atomicfile.Write(filepath.Join(dir, "checkpoint.ckpt"), []byte("new")); err != nil {
		t.Fatal(err)
	}
	want := []string{"checkpoint.ckpt"}
	for name, removed := range files {
		if !removed {
			want = append(want, strings.TrimSuffix(name, "/"))
		}
	}
	slices.Sort(want)
	if got := names(t, dir); !slices.Equal(got, want) {
		t.Fatalf("directory holds\n%q\nwant\n%q", got, want)
	}
}

// TestInFlightTempKept: a write of the same target while another is in
// progress in this process must not remove the other's temporary file.
func TestInFlightTempKept(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "checkpoint.ckpt")
	err := atomicfile.WriteFunc(path, func(w io.Writer) error {
		if _, err := w.Write([]byte("outer")); err != nil {
			return err
		}
		// Relative spelling of the same directory, on purpose.
		wd, err := os.Getwd()
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(wd, path)
		if err != nil {
			rel = path
		}
		return atomicfile.Write(rel, []byte("inner"))
	})
	if err != nil {
		t.Fatalf("outer write failed (its temporary file removed by the inner one?): %v", err)
	}
	if got, _ := os.ReadFile(path); string(got) != "outer" {
		t.Fatalf("file holds %q, want the outer write's content", got)
	}
	if n := names(t, dir); !slices.Equal(n, []string{"checkpoint.ckpt"}) {
		t.Fatalf("directory holds %q, want only checkpoint.ckpt", n)
	}
}

// TestConcurrentWrites: writers of one target in this process never remove
// each other's temporary files, so all succeed and one of them wins whole.
func TestConcurrentWrites(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "metrics.json")
	const n = 16
	errs := make(chan error, n)
	for i := range n {
		go func() {
			errs <- atomicfile.Write(path, bytes.Repeat([]byte{'a' + byte(i)}, 1<<16))
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1<<16 || bytes.Count(got, got[:1]) != len(got) {
		t.Fatalf("file holds a mix of writes (%d bytes)", len(got))
	}
	if n := names(t, dir); !slices.Equal(n, []string{"metrics.json"}) {
		t.Fatalf("directory holds %q, want only metrics.json", n)
	}
}
