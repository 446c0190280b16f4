package checkpoint_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"testing"

	"github.com/retina-ml/retina/train/checkpoint"
)

// FuzzDecode checks that Decode never panics, that it agrees with itself
// whether or not the size is known, and that whatever it accepts encodes
// back to an equivalent file. Random bytes almost never carry a valid
// checksum, so each input is also tried with its last 32 bytes replaced by
// the right checksum, which lets the fuzzer explore the header and data
// checks behind it. The committed corpus in testdata/fuzz/FuzzDecode holds
// small valid and damaged files; more seeds are added here.
func FuzzDecode(f *testing.F) {
	f.Add(encode(f, sample()))
	f.Add(encode(f, &checkpoint.File{}))
	f.Add(encode(f, &checkpoint.File{Meta: json.RawMessage(`{"epoch":1}`), Tensors: []checkpoint.Tensor{
		{Name: "w", Shape: []int{2, 2}, F32: []float32{1, 2, 3, 4}},
	}}))
	f.Add(raw("RETINACK", 2, `{}`, nil))
	huge := raw("RETINACK", 1, `{"meta":null,"tensors":[{"name":"w","dtype":"float64","shape":[1099511627776]}]}`, nil)
	f.Add(huge)
	long := bytes.Clone(huge)
	binary.LittleEndian.PutUint32(long[12:], checkpoint.MaxHeaderLen)
	f.Add(long)

	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzOne(t, data, true)
		if len(data) >= sha256.Size {
			fixed := bytes.Clone(data[:len(data)-sha256.Size])
			sum := sha256.Sum256(fixed)
			fuzzOne(t, append(fixed, sum[:]...), false)
		}
	})
}

func fuzzOne(t *testing.T, data []byte, exact bool) {
	got, errKnown := checkpoint.Decode(bytes.NewReader(data), int64(len(data)))
	_, errUnknown := checkpoint.Decode(bytes.NewReader(data), -1)
	if (errKnown == nil) != (errUnknown == nil) {
		t.Fatalf("size known: %v; size unknown: %v", errKnown, errUnknown)
	}
	for _, err := range []error{errKnown, errUnknown} {
		var ce *checkpoint.Error
		if err != nil && (!errors.As(err, &ce) || ce.Msg == "") {
			t.Fatalf("error %#v is not a *checkpoint.Error with a message", err)
		}
	}
	if errKnown != nil {
		return
	}
	var buf bytes.Buffer
	if err := checkpoint.Encode(&buf, got); err != nil {
		t.Fatalf("re-encoding a decoded file: %v", err)
	}
	enc := buf.Bytes()
	if exact && !bytes.Equal(enc, data) {
		// Only files this package wrote can carry a valid checksum here.
		t.Fatalf("re-encoding gives different bytes:\n%q\nwant\n%q", enc, data)
	}
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
