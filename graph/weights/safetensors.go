package weights

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/pkg/errors"

	"github.com/retina-ml/retina/internal/atomicfile"
)

// Limits on what Load reads. They are checked before anything is allocated
// from what the file claims.
const (
	// MaxHeaderBytes is the largest safetensors JSON header read (100 MB,
	// as the reference implementation allows).
	MaxHeaderBytes = 100 << 20
	// MaxDataBytes is the largest safetensors data buffer read (16 GiB).
	MaxDataBytes = 16 << 30
)

// dtypeSizes are the safetensors element types whose size is known. Only
// F32, F64 and I64 can be loaded into a model; the others are recognised so
// that a file holding them is reported as a dtype mismatch, not as corrupt.
var dtypeSizes = map[string]int64{
	"BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1,
	"I16": 2, "U16": 2, "F16": 2, "BF16": 2,
	"I32": 4, "U32": 4, "F32": 4,
	"I64": 8, "U64": 8, "F64": 8,
}

// stTensor is one tensor of a safetensors file: Data is its little-endian,
// row-major bytes, a slice of the file's data buffer.
type stTensor struct {
	Name  string
	Dtype string
	Shape []int
	Data  []byte

	begin, end int64 // Data's offsets in the data buffer
}

// stFile is a decoded safetensors file, tensors in the order of their data.
type stFile struct {
	Tensors  []stTensor
	Metadata map[string]string
}

func (f *stFile) tensor(name string) (*stTensor, bool) {
	for i := range f.Tensors {
		if f.Tensors[i].Name == name {
			return &f.Tensors[i], true
		}
	}
	return nil, false
}

// stEntry is a header entry as stored.
type stEntry struct {
	Dtype       string  `json:"dtype"`
	Shape       []int64 `json:"shape"`
	DataOffsets []int64 `json:"data_offsets"`
}

// readSafetensors reads and validates the safetensors file at path. The
// file's size is checked against the limits before it is read.
func readSafetensors(path string) (*stFile, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, errors.Wrap(err, "weights")
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, errors.Wrap(err, "weights")
	}
	size := st.Size()
	if size < 8 {
		return nil, errors.Errorf("weights: %s: truncated: %d bytes, a safetensors file starts with an 8-byte header length", path, size)
	}
	if size > 8+MaxHeaderBytes+MaxDataBytes {
		return nil, errors.Errorf("weights: %s: %d bytes, more than the %d a safetensors file may have", path, size, int64(8+MaxHeaderBytes+MaxDataBytes))
	}
	buf := make([]byte, size)
	if _, err := io.ReadFull(fh, buf); err != nil {
		return nil, errors.Wrapf(err, "weights: %s: reading", path)
	}
	return decodeSafetensors(path, buf)
}

// decodeSafetensors validates the safetensors file b, named name in
// errors. The tensors' Data alias b.
func decodeSafetensors(name string, b []byte) (*stFile, error) {
	fail := func(format string, args ...any) error {
		return errors.Errorf("weights: %s: "+format, append([]any{name}, args...)...)
	}
	if len(b) < 8 {
		return nil, fail("truncated: %d bytes, a safetensors file starts with an 8-byte header length", len(b))
	}
	n := binary.LittleEndian.Uint64(b)
	if n > MaxHeaderBytes {
		return nil, fail("header length %d at offset 0 exceeds the limit of %d bytes", n, MaxHeaderBytes)
	}
	if n < 2 {
		return nil, fail("header length %d at offset 0: too short for a JSON object", n)
	}
	if n > uint64(len(b)-8) {
		return nil, fail("truncated: header length %d at offset 0, but only %d bytes follow", n, len(b)-8)
	}
	hdr, data := b[8:8+n], b[8+n:]
	if int64(len(data)) > MaxDataBytes {
		return nil, fail("data buffer of %d bytes exceeds the limit of %d", len(data), int64(MaxDataBytes))
	}
	f := &stFile{}
	dec := json.NewDecoder(bytes.NewReader(hdr))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return nil, fail("header (offset 8): not a JSON object")
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fail("header (offset 8): malformed JSON: %v", err)
		}
		key, ok := tok.(string)
		if !ok {
			return nil, fail("header (offset 8): malformed JSON: key %v", tok)
		}
		if seen[key] {
			return nil, fail("header: tensor %q appears twice", key)
		}
		seen[key] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, fail("header: entry %q: malformed JSON: %v", key, err)
		}
		if key == "__metadata__" {
			md := map[string]string{}
			if err := json.Unmarshal(raw, &md); err != nil {
				return nil, fail("header: __metadata__ must map strings to strings: %v", err)
			}
			f.Metadata = md
			continue
		}
		t, err := decodeEntry(key, raw, int64(len(data)))
		if err != nil {
			return nil, fail("header: tensor %q: %v", key, err)
		}
		t.Data = data[t.begin:t.end]
		f.Tensors = append(f.Tensors, t)
	}
	if _, err := dec.Token(); err != nil {
		return nil, fail("header (offset 8): malformed JSON: %v", err)
	}
	// The reference implementation pads the header with spaces.
	if rest := hdr[dec.InputOffset():]; len(bytes.TrimLeft(rest, " \t\r\n")) > 0 {
		return nil, fail("header (offset 8): data after the JSON object")
	}
	// The tensors must tile the data buffer: sorted by offset, each starts
	// where the previous ends, and the last ends at the end of the file.
	sort.SliceStable(f.Tensors, func(a, b int) bool { return f.Tensors[a].begin < f.Tensors[b].begin })
	var pos int64
	for i := range f.Tensors {
		t := &f.Tensors[i]
		switch {
		case t.begin < pos:
			return nil, fail("tensor %q: data_offsets [%d, %d] overlap the previous tensor's data, which ends at %d", t.Name, t.begin, t.end, pos)
		case t.begin > pos:
			return nil, fail("tensor %q: data_offsets [%d, %d] leave bytes [%d, %d) of the data buffer unused", t.Name, t.begin, t.end, pos, t.begin)
		}
		pos = t.end
	}
	if pos != int64(len(data)) {
		return nil, fail("file size %d: the data buffer has %d bytes, the tensors account for %d", len(b), len(data), pos)
	}
	return f, nil
}

// decodeEntry validates the header entry raw of tensor name against a data
// buffer of dataLen bytes. The caller sets Data from begin and end.
func decodeEntry(name string, raw json.RawMessage, dataLen int64) (stTensor, error) {
	if name == "" {
		return stTensor{}, errors.New("empty tensor name")
	}
	var e stEntry
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return stTensor{}, errors.Wrap(err, "malformed entry")
	}
	size, ok := dtypeSizes[e.Dtype]
	if !ok {
		return stTensor{}, errors.Errorf("unknown dtype %q", e.Dtype)
	}
	if e.Shape == nil {
		return stTensor{}, errors.New("no shape")
	}
	if len(e.DataOffsets) != 2 {
		return stTensor{}, errors.Errorf("data_offsets has %d values, want 2", len(e.DataOffsets))
	}
	elems := int64(1)
	shape := make([]int, len(e.Shape))
	for i, d := range e.Shape {
		if d < 0 {
			return stTensor{}, errors.Errorf("shape[%d] = %d is negative", i, d)
		}
		if d > 0 && elems > MaxDataBytes/size/d {
			return stTensor{}, errors.Errorf("shape %v holds more than %d bytes", e.Shape, int64(MaxDataBytes))
		}
		elems *= d
		shape[i] = int(d)
	}
	begin, end := e.DataOffsets[0], e.DataOffsets[1]
	if begin < 0 || end < begin || end > dataLen {
		return stTensor{}, errors.Errorf("data_offsets [%d, %d] outside the data buffer of %d bytes", begin, end, dataLen)
	}
	if end-begin != elems*size {
		return stTensor{}, errors.Errorf("data_offsets [%d, %d] hold %d bytes, shape %v of %s needs %d", begin, end, end-begin, e.Shape, e.Dtype, elems*size)
	}
	return stTensor{Name: name, Dtype: e.Dtype, Shape: shape, begin: begin, end: end}, nil
}

// writeSafetensors writes the tensors, in this order, and metadata to path
// atomically. Names must be unique and each Data must hold
// product(Shape)·size(Dtype) bytes.
func writeSafetensors(path string, ts []stTensor, metadata map[string]string) error {
	hdr, err := safetensorsHeader(ts, metadata)
	if err != nil {
		return errors.Wrapf(err, "weights: %s", path)
	}
	return errors.Wrap(atomicfile.WriteFunc(path, func(w io.Writer) error {
		bw := bufio.NewWriterSize(w, 1<<20)
		var pre [8]byte
		binary.LittleEndian.PutUint64(pre[:], uint64(len(hdr)))
		bw.Write(pre[:])
		bw.Write(hdr)
		for _, t := range ts {
			bw.Write(t.Data)
		}
		return bw.Flush()
	}), "weights")
}

// safetensorsHeader returns the JSON header of ts: entries in the order
// given, "__metadata__" first, padded with spaces to a multiple of 8 bytes
// as the reference implementation does.
func safetensorsHeader(ts []stTensor, metadata map[string]string) ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	if len(metadata) > 0 {
		md, err := json.Marshal(metadata)
		if err != nil {
			return nil, errors.Wrap(err, "encoding metadata")
		}
		b.WriteString(`"__metadata__":`)
		b.Write(md)
	}
	seen := map[string]bool{}
	var off int64
	for i, t := range ts {
		size, ok := dtypeSizes[t.Dtype]
		if !ok {
			return nil, errors.Errorf("tensor %q: unknown dtype %q", t.Name, t.Dtype)
		}
		if t.Name == "" || t.Name == "__metadata__" || seen[t.Name] {
			return nil, errors.Errorf("tensor %d: name %q is empty, reserved or taken", i, t.Name)
		}
		seen[t.Name] = true
		elems := int64(1)
		for _, d := range t.Shape {
			elems *= int64(d)
		}
		if int64(len(t.Data)) != elems*size {
			return nil, errors.Errorf("tensor %q: %d bytes for shape %v of %s", t.Name, len(t.Data), t.Shape, t.Dtype)
		}
		name, _ := json.Marshal(t.Name)
		shape := make([]string, len(t.Shape))
		for k, d := range t.Shape {
			shape[k] = strconv.Itoa(d)
		}
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		b.Write(name)
		b.WriteString(`:{"dtype":"` + t.Dtype + `","shape":[` + strings.Join(shape, ",") + `],"data_offsets":[` +
			strconv.FormatInt(off, 10) + "," + strconv.FormatInt(off+int64(len(t.Data)), 10) + "]}")
		off += int64(len(t.Data))
	}
	b.WriteByte('}')
	for b.Len()%8 != 0 {
		b.WriteByte(' ')
	}
	if b.Len() > MaxHeaderBytes || off > MaxDataBytes {
		return nil, errors.Errorf("%d header bytes and %d data bytes exceed the limits (%d, %d)", b.Len(), off, MaxHeaderBytes, int64(MaxDataBytes))
	}
	return b.Bytes(), nil
}

// Little-endian conversions between tensor data and safetensors bytes.

func f32Bytes(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

func f64Bytes(v []float64) []byte {
	b := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(x))
	}
	return b
}

func i64Bytes(v []int64) []byte {
	b := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(b[8*i:], uint64(x))
	}
	return b
}

// float64s decodes t's F32, F64 or I64 data as float64 values.
func (t *stTensor) float64s() []float64 {
	size := dtypeSizes[t.Dtype]
	v := make([]float64, len(t.Data)/int(size))
	for i := range v {
		switch t.Dtype {
		case "F32":
			v[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(t.Data[4*i:])))
		case "F64":
			v[i] = math.Float64frombits(binary.LittleEndian.Uint64(t.Data[8*i:]))
		case "I64":
			v[i] = float64(int64(binary.LittleEndian.Uint64(t.Data[8*i:])))
		}
	}
	return v
}
