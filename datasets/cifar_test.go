package datasets

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// cifarPixel is the generated value of pixel (c, y, x) of record i of file
// f. Every coordinate moves it by a different step, so any mix-up of
// planes, rows, columns, records or files changes the values read.
func cifarPixel(f, i, c, y, x int) byte {
	if f == 0 && i == 0 {
		switch {
		case c == 0 && y == 0 && x == 0:
			return 0
		case c == 2 && y == 31 && x == 31:
			return 255
		}
	}
	return byte(f*13 + i*11 + c*80 + y*7 + x*3)
}

// cifarLabels returns the generated label bytes of record i of file f.
func cifarLabels(l *cifarLayout, f, i int) []byte {
	if len(l.labels) == 1 {
		return []byte{byte((f*7 + i*3) % 10)}
	}
	return []byte{byte((f*5 + i) % 20), byte((f*37 + i*7) % 100)}
}

// cifarRecord encodes one record in the published layout: the label bytes,
// then the R, G and B planes, each row-major.
func cifarRecord(labels []byte, pixel func(c, y, x int) byte) []byte {
	rec := append([]byte(nil), labels...)
	for c := range 3 {
		for y := range 32 {
			for x := range 32 {
				rec = append(rec, pixel(c, y, x))
			}
		}
	}
	return rec
}

// cifarFile returns file number f of the layout, n generated records.
func cifarFile(l *cifarLayout, f, n int) []byte {
	var b []byte
	for i := range n {
		b = append(b, cifarRecord(cifarLabels(l, f, i), func(c, y, x int) byte { return cifarPixel(f, i, c, y, x) })...)
	}
	return b
}

// writeCIFAR writes the layout's files, with its counts, into dir; file f
// is l.files()[f].
func writeCIFAR(t testing.TB, l *cifarLayout, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for f, name := range l.files() {
		n := l.perTrain
		if f == len(l.trainFiles) {
			n = l.perTest
		}
		if err := os.WriteFile(filepath.Join(dir, name), cifarFile(l, f, n), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// checkCIFARSet checks that s holds, in order, the generated records of
// files first.. of l (count records each), labelled with label byte use.
func checkCIFARSet(t *testing.T, l *cifarLayout, s *Set, first, files, count, use, classes int) {
	t.Helper()
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	if s.Len() != files*count || len(s.X) != files*count*3072 || s.Classes != classes || len(s.Shape) != 3 || s.Shape[0] != 3 || s.Shape[1] != 32 || s.Shape[2] != 32 {
		t.Fatalf("set of %d samples (len(X) %d), shape %v, classes %d; want %d of [3 32 32], classes %d",
			s.Len(), len(s.X), s.Shape, s.Classes, files*count, classes)
	}
	for k := range files {
		f := first + k
		for i := range count {
			n := k*count + i
			if want := int(cifarLabels(l, f, i)[use]); s.Labels[n] != want {
				t.Fatalf("sample %d (file %d record %d): label %d, want %d", n, f, i, s.Labels[n], want)
			}
			for c := range 3 {
				for y := range 32 {
					for x := range 32 {
						got, want := s.X[n*3072+c*1024+y*32+x], float32(cifarPixel(f, i, c, y, x))/255
						if got != want {
							t.Fatalf("sample %d (file %d record %d) pixel (%d, %d, %d): %v, want %v", n, f, i, c, y, x, got, want)
						}
					}
				}
			}
		}
	}
}

func smallCIFAR10() cifarLayout {
	l := cifar10
	l.perTrain, l.perTest = 3, 2
	return l
}

func smallCIFAR100() cifarLayout {
	l := cifar100
	l.perTrain, l.perTest = 4, 3
	return l
}

func TestCIFAR10(t *testing.T) {
	l := smallCIFAR10()
	parent := t.TempDir()
	dir := filepath.Join(parent, "cifar-10-batches-bin")
	writeCIFAR(t, &l, dir)
	for _, tc := range []struct{ name, dir, env string }{
		{"folder", dir, ""},
		{"parent", parent, ""},
		{"RETINA_DATA parent", "", parent},
		{"RETINA_DATA folder", "", dir},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("RETINA_DATA", tc.env)
			train, test, err := l.load(tc.dir, 0)
			if err != nil {
				t.Fatal(err)
			}
			checkCIFARSet(t, &l, train, 0, 5, 3, 0, 10)
			checkCIFARSet(t, &l, test, 5, 1, 2, 0, 10)
		})
	}
	if train, _, _ := l.load(dir, 0); train.X[0] != 0 || train.X[3071] != 1 {
		t.Errorf("byte 0 and 255 read as %v and %v, want 0 and 1", train.X[0], train.X[3071])
	}
	if CIFAR10Classes[0] != "airplane" || CIFAR10Classes[3] != "cat" || CIFAR10Classes[9] != "truck" {
		t.Errorf("CIFAR10Classes = %q", CIFAR10Classes)
	}
}

func TestCIFAR100(t *testing.T) {
	l := smallCIFAR100()
	parent := t.TempDir()
	writeCIFAR(t, &l, filepath.Join(parent, "cifar-100-binary"))
	for use, classes := range []int{20, 100} {
		train, test, err := l.load(parent, use)
		if err != nil {
			t.Fatal(err)
		}
		checkCIFARSet(t, &l, train, 0, 1, 4, use, classes)
		checkCIFARSet(t, &l, test, 1, 1, 3, use, classes)
	}
	// Some generated fine labels exceed 19, so they cannot pass as coarse.
	if _, test, _ := l.load(parent, 1); slices.Max(test.Labels) < 20 {
		t.Fatalf("fine labels %v: the test cannot tell fine from coarse", test.Labels)
	}
}

// TestCIFARPublishedCounts checks that the exported loaders insist on the
// published counts: the small generated files are refused, naming the
// first file and the count.
func TestCIFARPublishedCounts(t *testing.T) {
	l10, l100 := smallCIFAR10(), smallCIFAR100()
	dir10, dir100 := t.TempDir(), t.TempDir()
	writeCIFAR(t, &l10, dir10)
	writeCIFAR(t, &l100, dir100)
	for _, tc := range []struct {
		load func() (*Set, *Set, error)
		file string
		msg  string
	}{
		{func() (*Set, *Set, error) { return CIFAR10(dir10) }, filepath.Join(dir10, "data_batch_1.bin"), "file holds 3 records (9219 bytes), expected 10000 (30730000 bytes)"},
		{func() (*Set, *Set, error) { return CIFAR100(dir100, true) }, filepath.Join(dir100, "train.bin"), "file holds 4 records (12296 bytes), expected 50000 (153700000 bytes)"},
	} {
		_, _, err := tc.load()
		var ce *CIFARError
		if !errors.As(err, &ce) || ce.File != tc.file || ce.Field != "count" || ce.Msg != tc.msg {
			t.Errorf("error %v, want a count error for %s: %s", err, tc.file, tc.msg)
		}
	}
}

func TestCIFARFormatErrors(t *testing.T) {
	l10, l100 := smallCIFAR10(), smallCIFAR100()
	const rec10, rec100 = 3073, 3074
	for _, tc := range []struct {
		name   string
		l      *cifarLayout
		use    int
		file   string
		edit   func([]byte) []byte
		record int
		field  string
		offset int64
	}{
		{"truncated record", &l10, 0, "test_batch.bin", func(b []byte) []byte { return b[:len(b)-1] }, 1, "size", rec10},
		{"truncated label", &l10, 0, "data_batch_2.bin", func(b []byte) []byte { return b[:2*rec10+1] }, 2, "size", 2 * rec10},
		{"extra byte", &l10, 0, "data_batch_5.bin", func(b []byte) []byte { return append(b, 0) }, 3, "size", 3 * rec10},
		{"missing record", &l10, 0, "data_batch_3.bin", func(b []byte) []byte { return b[:2*rec10] }, 2, "count", 2 * rec10},
		{"extra record", &l10, 0, "test_batch.bin", func(b []byte) []byte { return append(b, b[:rec10]...) }, 2, "count", 2 * rec10},
		{"empty file", &l10, 0, "data_batch_1.bin", func(b []byte) []byte { return nil }, 0, "count", 0},
		{"label 10", &l10, 0, "data_batch_2.bin", func(b []byte) []byte { b[rec10] = 10; return b }, 1, "label", rec10},
		{"label 255", &l10, 0, "test_batch.bin", func(b []byte) []byte { b[rec10] = 255; return b }, 1, "label", rec10},
		{"coarse 20", &l100, 0, "train.bin", func(b []byte) []byte { b[3*rec100] = 20; return b }, 3, "coarse label", 3 * rec100},
		{"fine 100 unused", &l100, 0, "test.bin", func(b []byte) []byte { b[2*rec100+1] = 100; return b }, 2, "fine label", 2*rec100 + 1},
		{"fine 100", &l100, 1, "train.bin", func(b []byte) []byte { b[1] = 100; return b }, 0, "fine label", 1},
		{"cifar-100 truncated", &l100, 1, "train.bin", func(b []byte) []byte { return b[:len(b)-rec100/2] }, 3, "size", 3 * rec100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeCIFAR(t, tc.l, dir)
			path := filepath.Join(dir, tc.file)
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, tc.edit(b), 0o644); err != nil {
				t.Fatal(err)
			}
			train, test, err := tc.l.load(dir, tc.use)
			var ce *CIFARError
			if !errors.As(err, &ce) {
				t.Fatalf("error %v (train %v, test %v), want a *CIFARError", err, train, test)
			}
			if ce.File != path || ce.Record != tc.record || ce.Field != tc.field || ce.Offset != tc.offset {
				t.Fatalf("error %q: file %s, record %d, field %q, offset %d; want %s, %d, %q, %d",
					err, ce.File, ce.Record, ce.Field, ce.Offset, path, tc.record, tc.field, tc.offset)
			}
			for _, s := range []string{path, "record", tc.field} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not name %q", err, s)
				}
			}
		})
	}
}

// TestCIFARSizesFirst checks that every file's size is checked before any
// record is read, so a damaged set is refused before the sets are
// allocated: a bad label in the first training file is found after a bad
// size in the test file.
func TestCIFARSizesFirst(t *testing.T) {
	l := smallCIFAR10()
	dir := t.TempDir()
	writeCIFAR(t, &l, dir)
	edit := func(name string, f func([]byte) []byte) {
		path := filepath.Join(dir, name)
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, f(b), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	edit("data_batch_1.bin", func(b []byte) []byte { b[0] = 99; return b })
	edit("test_batch.bin", func(b []byte) []byte { return b[:100] })
	_, _, err := l.load(dir, 0)
	var ce *CIFARError
	if !errors.As(err, &ce) || ce.Field != "size" || filepath.Base(ce.File) != "test_batch.bin" {
		t.Fatalf("error %v, want the size of test_batch.bin", err)
	}
}

// TestCIFARReadChecks covers the checks made while reading, which catch a
// file that changed after its size was checked.
func TestCIFARReadChecks(t *testing.T) {
	l := smallCIFAR10()
	dir := t.TempDir()
	two := cifarFile(&l, 0, 2)
	for _, tc := range []struct {
		name   string
		data   []byte
		n      int
		record int
		field  string
		offset int64
	}{
		{"pixels cut", two[:3073+1536], 2, 1, "pixels", 3073 + 1536},
		{"label cut", two[:3073], 2, 1, "label", 3073},
		{"trailer", two, 1, 1, "trailer", 3073},
	} {
		path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-"))
		if err := os.WriteFile(path, tc.data, 0o644); err != nil {
			t.Fatal(err)
		}
		err := l.readFile(path, make([]float32, tc.n*3072), make([]int, tc.n), 0)
		var ce *CIFARError
		if !errors.As(err, &ce) || ce.File != path || ce.Record != tc.record || ce.Field != tc.field || ce.Offset != tc.offset {
			t.Errorf("%s: error %v, want record %d, field %q, offset %d", tc.name, err, tc.record, tc.field, tc.offset)
		}
	}
}

func TestCIFARMissing(t *testing.T) {
	l := smallCIFAR10()
	parent := t.TempDir()
	dir := filepath.Join(parent, "cifar-10-batches-bin")
	writeCIFAR(t, &l, dir)
	if err := os.Remove(filepath.Join(dir, "data_batch_4.bin")); err != nil {
		t.Fatal(err)
	}
	// A folder in place of a file is missing too.
	if err := os.Remove(filepath.Join(dir, "test_batch.bin")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "test_batch.bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	notDir := filepath.Join(dir, "data_batch_1.bin")
	empty := t.TempDir()
	howTo := []string{CIFAR10URL, "c32a1d4ab5d03f1284b67883e8d87530", "cifar-10-batches-bin", "data_batch_1.bin", "test_batch.bin"}
	for _, tc := range []struct {
		name, dir, env string
		want           []string
	}{
		{"files missing", dir, "", []string{dir + " lacks data_batch_4.bin, test_batch.bin"}},
		{"files missing in subfolder", parent, "", []string{dir + " lacks data_batch_4.bin, test_batch.bin"}},
		{"no files", empty, "", []string{empty + " lacks data_batch_1.bin", "no subfolder cifar-10-batches-bin"}},
		{"no folder", filepath.Join(parent, "nowhere"), "", []string{filepath.Join(parent, "nowhere"), "no such file"}},
		{"not a folder", notDir, "", []string{notDir + " is not a folder"}},
		{"no RETINA_DATA", "", "", []string{"RETINA_DATA is not set"}},
		{"RETINA_DATA", "", empty, []string{"RETINA_DATA folder " + empty + " lacks"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("RETINA_DATA", tc.env)
			train, test, err := l.load(tc.dir, 0)
			if err == nil {
				t.Fatalf("loaded %d and %d samples", train.Len(), test.Len())
			}
			for _, s := range append(tc.want, howTo...) {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
		})
	}
	// CIFAR-100 names its own archive and files.
	_, _, err := CIFAR100(empty, false)
	for _, s := range []string{CIFAR100URL, "03b5dce01913d631647c71ecec9e9cb8", "cifar-100-binary", "train.bin, test.bin"} {
		if err == nil || !strings.Contains(err.Error(), s) {
			t.Errorf("CIFAR100 error %v does not say %q", err, s)
		}
	}
}

// FuzzCIFARRecords feeds arbitrary bytes as a batch file expected to hold
// n records: reading it must return an error or a valid Set holding
// exactly the file's records.
func FuzzCIFARRecords(f *testing.F) {
	l10, l100 := cifar10, cifar100
	for n := range 3 {
		f.Add(cifarFile(&l10, 0, n), uint8(n), false, false)
		f.Add(cifarFile(&l100, 0, n), uint8(n), true, n == 1)
	}
	one := cifarFile(&l10, 0, 1)
	f.Add(one[:len(one)-1], uint8(1), false, false)
	f.Add(append(one, 7), uint8(1), false, false)
	f.Add(append([]byte{10}, one[1:]...), uint8(1), false, false)
	f.Add(cifarFile(&l10, 0, 1), uint8(1), true, true)
	f.Add([]byte{}, uint8(0), false, false)
	f.Add([]byte("not a CIFAR file"), uint8(2), true, false)
	f.Fuzz(func(t *testing.T, data []byte, count uint8, hundred, fine bool) {
		l, use := &l10, 0
		if hundred {
			l = &l100
			if fine {
				use = 1
			}
		}
		n := int(count % 4)
		path := filepath.Join(t.TempDir(), "batch.bin")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		s, err := l.readSet([]string{path}, []int{n}, use)
		if err != nil {
			var ce *CIFARError
			if !errors.As(err, &ce) || ce.File != path || ce.Record < 0 || ce.Record > n || ce.Offset < 0 || ce.Offset > int64(len(data)) {
				t.Fatalf("error %#v", err)
			}
			if s != nil {
				t.Fatal("a set with an error")
			}
			return
		}
		rec := l.recordSize()
		if len(data) != n*rec {
			t.Fatalf("%d bytes accepted as %d records of %d", len(data), n, rec)
		}
		if err := s.Validate(); err != nil || s.Len() != n || s.Classes != l.labels[use].classes {
			t.Fatalf("set of %d samples, %d classes: %v", s.Len(), s.Classes, err)
		}
		for i := range n {
			r := data[i*rec : (i+1)*rec]
			for k, lb := range l.labels {
				if int(r[k]) >= lb.classes {
					t.Fatalf("record %d: %s %d accepted", i, lb.field, r[k])
				}
			}
			if s.Labels[i] != int(r[use]) {
				t.Fatalf("record %d: label %d, file holds %d", i, s.Labels[i], r[use])
			}
			for j, b := range r[len(l.labels):] {
				if v := s.X[i*3072+j]; v != float32(b)/255 || v < 0 || v > 1 {
					t.Fatalf("record %d pixel byte %d: %v, file holds %d", i, j, v, b)
				}
			}
		}
	})
}
