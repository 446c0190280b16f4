package checkpoint_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/retina-ml/retina/train/checkpoint"
)

// FuzzDecode checks that the reader never panics: Decode, with the size
// known and unknown, and Read, from a file, agree on every input, and
// whatever they accept encodes back to an equivalent file (byte for byte
// for the files Encode writes, which TestRoundTrip checks). Random bytes
// almost never carry valid checksums, so each input is also tried with its
// checksums recomputed, which lets the fuzzer explore the header and data
// checks behind them. The committed corpus in testdata/fuzz/FuzzDecode
// holds small valid and damaged files of both versions (the files without a
// "v2_" prefix are version 1); more seeds are added here.
func FuzzDecode(f *testing.F) {
	f.Add(encode(f, sample()))
	f.Add(encode(f, &checkpoint.File{}))
	f.Add(encode(f, &checkpoint.File{Meta: json.RawMessage(`{"epoch":1}`), Tensors: []checkpoint.Tensor{
		{Name: "w", Shape: []int{2, 2}, F32: []float32{1, 2, 3, 4}},
	}}))
	f.Add(raw("RETINACK", 3, `{}`, nil))
	for _, v := range []uint32{1, 2} {
		huge := raw("RETINACK", v, `{"meta":null,"tensors":[{"name":"w","dtype":"float64","shape":[1099511627776]}]}`, nil)
		f.Add(huge)
		long := bytes.Clone(huge)
		binary.LittleEndian.PutUint32(long[12:], checkpoint.MaxHeaderLen)
		f.Add(long)
		f.Add(raw("RETINACK", v, `{"meta":{"a":[1,{"b":"\u00e9\n"}]},"tensors":[{"name":"a\"b","dtype":"float32","shape":[`+strings.Repeat("1,", checkpoint.MaxDims)+`1]}]}`, nil))
	}

	path := filepath.Join(f.TempDir(), "fuzz.ckpt")
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzOne(t, path, data)
		if fixed := fixSums(data); fixed != nil {
			fuzzOne(t, path, fixed)
		}
	})
}

// fixSums returns a copy of data with its checksums recomputed, as far as
// the header length allows, or nil if data is too short to have any.
func fixSums(data []byte) []byte {
	if len(data) < 16+sha256.Size {
		return nil
	}
	b := bytes.Clone(data)
	hlen := int64(binary.LittleEndian.Uint32(b[12:]))
	if binary.LittleEndian.Uint32(b[8:]) >= 2 && 16+hlen+2*sha256.Size <= int64(len(b)) {
		sum := sha256.Sum256(b[:16+hlen])
		copy(b[16+hlen:], sum[:])
	}
	sum := sha256.Sum256(b[:len(b)-sha256.Size])
	copy(b[len(b)-sha256.Size:], sum[:])
	return b
}

// fuzzOne reads data every way, writing it to path for Read.
func fuzzOne(t *testing.T, path string, data []byte) {
	got, errKnown := checkpoint.Decode(bytes.NewReader(data), int64(len(data)))
	_, errUnknown := checkpoint.Decode(bytes.NewReader(data), -1)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	_, errRead := checkpoint.Read(path)
	if (errKnown == nil) != (errUnknown == nil) || (errKnown == nil) != (errRead == nil) {
		t.Fatalf("size known: %v; size unknown: %v; Read: %v", errKnown, errUnknown, errRead)
	}
	for _, err := range []error{errKnown, errUnknown, errRead} {
		var ce *checkpoint.Error
		if err != nil && (!errors.As(err, &ce) || ce.Msg == "" || !strings.HasPrefix(err.Error(), "checkpoint: ")) {
			t.Fatalf("error %#v is not a *checkpoint.Error with a message", err)
		}
	}
	if errRead != nil && !strings.HasPrefix(errRead.Error(), "checkpoint: "+path+": ") {
		t.Fatalf("Read error %q does not name the file", errRead)
	}
	if errKnown != nil {
		return
	}
	var buf bytes.Buffer
	if err := checkpoint.Encode(&buf, got); err != nil {
		t.Fatalf("re-encoding a decoded file: %v", err)
	}
	enc := buf.Bytes()
	// The encoding is canonical: decoding and encoding again is stable, and
	// only insignificant whitespace in Meta may have changed.
	again, err := checkpoint.Decode(bytes.NewReader(enc), int64(len(enc)))
	if err != nil {
		t.Fatalf("decoding a re-encoded file: %v", err)
	}
	var meta bytes.Buffer
	if err := json.Compact(&meta, got.Meta); err != nil {
		t.Fatalf("accepted Meta %q is not JSON: %v", got.Meta, err)
	}
	if d := sameFile(again, got, meta.String()); d != "" {
		t.Fatalf("re-encoded file differs: %s", d)
	}
	if enc2 := encode(t, again); !bytes.Equal(enc2, enc) {
		t.Fatal("encoding is not stable")
	}
}
