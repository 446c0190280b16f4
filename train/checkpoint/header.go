package checkpoint

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"unicode/utf8"

	"github.com/pkg/errors"
)

// headerParser reads the header JSON strictly and in one pass over its
// bytes: member names must match exactly (encoding/json alone would match
// them case-insensitively), duplicate and unknown members are errors,
// nothing may follow the object, and no more than [MaxTensors] tensors of
// at most [MaxDims] dimensions are read. It allocates only for what it
// keeps (names, shapes; Meta shares the header's bytes), in proportion to
// the tensors and dimensions accepted so far, never to sizes the header
// declares.
type headerParser struct {
	d *decoder
	b []byte // the header
	i int    // index in b of the next byte to read
}

// field names a part of the header in error messages, such as
// header.tensors[3] ("w").shape. It is a value, formatted only for an
// error, so that naming the parts of a long header allocates nothing.
type field struct {
	tensor int    // index in header.tensors, or -1 outside the tensors
	name   string // the tensor's name, once read
	member string // after the tensor, e.g. ".shape"; or the whole name
}

// top names a part of the header outside header.tensors[i].
func top(name string) field { return field{tensor: -1, member: name} }

// with returns f for member m of the tensor.
func (f field) with(m string) field {
	f.member = m
	return f
}

func (f field) String() string {
	if f.tensor < 0 {
		return f.member
	}
	s := fmt.Sprintf("header.tensors[%d]", f.tensor)
	if f.name != "" {
		s += fmt.Sprintf(" (%q)", f.name)
	}
	return s + f.member
}

// off is the file offset of b[i].
func (p *headerParser) off(i int) int64 { return prefixLen + int64(i) }

func (p *headerParser) errorf(i int, format string, args ...any) error {
	return p.d.corrupt(p.off(i), format, args...)
}

// peek skips whitespace and returns the next byte, or -1 at the end.
func (p *headerParser) peek() int {
	for ; p.i < len(p.b); p.i++ {
		switch c := p.b[p.i]; c {
		case ' ', '\t', '\n', '\r':
		default:
			return int(c)
		}
	}
	return -1
}

// want reports that field, at the next byte, is not desc.
func (p *headerParser) want(f field, desc string) error {
	var what string
	switch c := p.peek(); {
	case c < 0:
		what = "the end of the header"
	case c == '{':
		what = "an object"
	case c == '[':
		what = "an array"
	case c == '"':
		what = "a string"
	case c == 't' || c == 'f':
		what = "a boolean"
	case c == 'n':
		what = "null"
	case c == '-' || '0' <= c && c <= '9':
		what = "a number"
	case c == ',' || c == ':' || c == ']' || c == '}':
		what = fmt.Sprintf("%q", rune(c))
	default:
		what = fmt.Sprintf("%q, which starts no JSON value", rune(c))
	}
	return p.errorf(p.i, "%s at offset %d is %s, want %s", f, p.off(p.i), what, desc)
}

// punct reads the byte c, which must come next.
func (p *headerParser) punct(c byte, f field, desc string) error {
	if p.peek() != int(c) {
		return p.want(f, desc)
	}
	p.i++
	return nil
}

// more reads what follows the n-th element or member of an array or object
// ending with end: true if another follows (after a comma unless n is 0),
// false at the end.
func (p *headerParser) more(n int, end byte, f field) (bool, error) {
	switch c := p.peek(); {
	case c == int(end):
		p.i++
		return false, nil
	case n == 0:
		return true, nil
	case c == ',':
		p.i++
		return true, nil
	}
	return false, p.want(f, fmt.Sprintf("%q or %q", ',', end))
}

// value reads any JSON value and returns its bytes, which alias the header.
func (p *headerParser) value(f field) ([]byte, error) {
	c := p.peek()
	start := p.i
	switch c {
	case -1:
		return nil, p.want(f, "a JSON value")
	case '"':
		if _, err := p.rawString(f); err != nil {
			return nil, err
		}
	case '{', '[':
		for depth := 0; ; {
			if p.i == len(p.b) {
				return nil, p.errorf(start, "%s at offset %d: the header ends in the middle of it", f, p.off(start))
			}
			switch p.b[p.i] {
			case '"':
				if _, err := p.rawString(f); err != nil {
					return nil, err
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
			}
			p.i++
			if depth == 0 {
				break
			}
		}
	default: // a literal or number: up to the next delimiter or the end
		if k := bytes.IndexAny(p.b[p.i:], " \t\r\n,:[]{}\""); k >= 0 {
			p.i += k
		} else {
			p.i = len(p.b)
		}
	}
	v := p.b[start:p.i:p.i]
	if len(v) == 0 { // a delimiter
		return nil, p.want(f, "a JSON value")
	}
	if json.Valid(v) {
		return v, nil
	}
	err := json.Unmarshal(v, new(any)) // only to describe the problem
	var syn *json.SyntaxError
	if c != '{' && c != '[' && c != '"' || !errors.As(err, &syn) {
		return nil, p.errorf(start, "%s at offset %d is %q, which is not JSON", f, p.off(start), v)
	}
	bad := p.off(start) + syn.Offset - 1
	return nil, p.errorf(start, "%s at offset %d is not valid JSON: %v, at offset %d", f, p.off(start), err, bad)
}

// rawString reads a JSON string and returns it with its quotes. Escapes are
// checked later, by encoding/json.
func (p *headerParser) rawString(f field) ([]byte, error) {
	if p.peek() != '"' {
		return nil, p.want(f, "a string")
	}
	start := p.i
	for j := start + 1; j < len(p.b); j++ {
		switch c := p.b[j]; {
		case c == '"':
			p.i = j + 1
			return p.b[start:p.i], nil
		case c == '\\':
			j++ // skip the escaped byte (hex digits of \u are plain bytes)
		case c < 0x20:
			return nil, p.errorf(j, "%s at offset %d: control character %#02x in a string, want it escaped", f, p.off(j), c)
		}
	}
	return nil, p.errorf(start, "%s at offset %d: the header ends in the middle of a string", f, p.off(start))
}

// str reads a JSON string and returns its value. Invalid UTF-8 becomes
// U+FFFD, as encoding/json does.
func (p *headerParser) str(f field) (string, error) {
	p.peek()
	start := p.i
	raw, err := p.rawString(f)
	if err != nil {
		return "", err
	}
	if s := raw[1 : len(raw)-1]; bytes.IndexByte(s, '\\') < 0 && utf8.Valid(s) {
		return string(s), nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", p.errorf(start, "%s at offset %d is not a valid JSON string: %v", f, p.off(start), err)
	}
	return s, nil
}

// key reads the next member name of the object field, after n members;
// ok is false at the end of the object.
func (p *headerParser) key(f field, n int) (key string, at int, ok bool, err error) {
	if ok, err = p.more(n, '}', f); !ok || err != nil {
		return "", 0, false, err
	}
	p.peek()
	at = p.i
	if p.peek() != '"' {
		return "", 0, false, p.want(f, "a member name (a string)")
	}
	if key, err = p.str(f); err != nil {
		return "", 0, false, err
	}
	return key, at, true, p.punct(':', f, `":" after the member name`)
}

// parse returns the File the header describes, each tensor with an empty
// F32 or F64 slice marking its dtype, and each tensor's data size in bytes.
func (p *headerParser) parse() (*File, []int64, error) {
	if p.peek() < 0 {
		return nil, nil, p.errorf(0, "header at offset %d is empty, want a JSON object", prefixLen)
	}
	if err := p.punct('{', top("header"), "a JSON object"); err != nil {
		return nil, nil, err
	}
	f := &File{}
	var sizes []int64
	hasTensors := false
	for n := 0; ; n++ {
		key, at, ok, err := p.key(top("header"), n)
		if err != nil {
			return nil, nil, err
		}
		if !ok {
			break
		}
		switch {
		case key == "meta" && f.Meta == nil:
			if f.Meta, err = p.value(top("header.meta")); err != nil {
				return nil, nil, err
			}
		case key == "tensors" && !hasTensors:
			hasTensors = true
			if f.Tensors, sizes, err = p.tensors(); err != nil {
				return nil, nil, err
			}
		case key == "meta" || key == "tensors":
			return nil, nil, p.errorf(at, "header: duplicate member %q at offset %d", key, p.off(at))
		default:
			return nil, nil, p.errorf(at, "header: unknown member %q at offset %d, want \"meta\" or \"tensors\"", key, p.off(at))
		}
	}
	if p.peek() >= 0 {
		return nil, nil, p.errorf(p.i, "header: unexpected data at offset %d after the JSON object, want the end of the header", p.off(p.i))
	}
	if f.Meta == nil {
		return nil, nil, p.errorf(0, "header at offset %d: member \"meta\" is missing", prefixLen)
	}
	if !hasTensors {
		return nil, nil, p.errorf(0, "header at offset %d: member \"tensors\" is missing, want an array", prefixLen)
	}
	return f, sizes, nil
}

// tensors reads header.tensors.
func (p *headerParser) tensors() ([]Tensor, []int64, error) {
	f := top("header.tensors")
	if err := p.punct('[', f, "an array"); err != nil {
		return nil, nil, err
	}
	// Room for as many as there are "name" strings in the rest of the
	// header, up to the limit, so that a long list is not copied as it
	// grows; a header with escaped names is merely slower.
	n := min(MaxTensors, bytes.Count(p.b[p.i:], []byte(`"name"`)))
	tensors := make([]Tensor, 0, n)
	sizes := make([]int64, 0, n)
	seen := make(map[string]int, n)
	for i := 0; ; i++ {
		if ok, err := p.more(i, ']', f); err != nil || !ok {
			return tensors, sizes, err
		}
		if i == MaxTensors {
			return nil, nil, p.errorf(p.i, "%s at offset %d: more than %d tensors, want at most %d (MaxTensors)", f, p.off(p.i), MaxTensors, MaxTensors)
		}
		p.peek()
		start := p.i
		t, size, err := p.tensor(i)
		if err != nil {
			return nil, nil, err
		}
		if j, dup := seen[t.Name]; dup {
			return nil, nil, p.errorf(start, "%s at offset %d: duplicate tensor name, also used by header.tensors[%d]", field{tensor: i, name: t.Name}, p.off(start), j)
		}
		seen[t.Name] = i
		tensors = append(tensors, t)
		sizes = append(sizes, size)
	}
}

// tensor reads header.tensors[i] and returns it with its data size in bytes.
func (p *headerParser) tensor(i int) (Tensor, int64, error) {
	f := field{tensor: i}
	start := p.i
	if err := p.punct('{', f, "an object"); err != nil {
		return Tensor{}, 0, err
	}
	var t Tensor
	var es int64 // element size; 0 until "dtype" is read
	for n := 0; ; n++ {
		key, at, ok, err := p.key(f, n)
		if err != nil {
			return t, 0, err
		}
		if !ok {
			break
		}
		switch {
		case key == "name" && t.Name == "":
			if t.Name, err = p.str(f.with(".name")); err != nil {
				return t, 0, err
			}
			if t.Name == "" {
				return t, 0, p.errorf(at, "%s.name at offset %d is empty, want a non-empty string", f, p.off(at))
			}
			f.name = t.Name
		case key == "dtype" && es == 0:
			p.peek()
			dtAt := p.i
			dtype, err := p.str(f.with(".dtype"))
			if err != nil {
				return t, 0, err
			}
			if es = elemSize(dtype); es == 0 {
				return t, 0, p.errorf(dtAt, "%s.dtype at offset %d is %q, want \"float32\" or \"float64\"", f, p.off(dtAt), dtype)
			}
		case key == "shape" && t.Shape == nil:
			if t.Shape, err = p.shape(f.with(".shape")); err != nil {
				return t, 0, err
			}
		case key == "name" || key == "dtype" || key == "shape":
			return t, 0, p.errorf(at, "%s: duplicate member %q at offset %d", f, key, p.off(at))
		default:
			return t, 0, p.errorf(at, "%s: unknown member %q at offset %d, want \"name\", \"dtype\" or \"shape\"", f, key, p.off(at))
		}
	}
	switch {
	case t.Name == "":
		return t, 0, p.errorf(start, "%s at offset %d: member \"name\" is missing, want a string", f, p.off(start))
	case es == 0:
		return t, 0, p.errorf(start, "%s at offset %d: member \"dtype\" is missing, want \"float32\" or \"float64\"", f, p.off(start))
	case t.Shape == nil:
		return t, 0, p.errorf(start, "%s at offset %d: member \"shape\" is missing, want an array of dimensions", f, p.off(start))
	}
	n, ok := numElems(t.Shape, es)
	if !ok {
		return t, 0, p.errorf(start, "%s.shape %v at offset %d: element count overflows, want at most %d elements of %d bytes", f, t.Shape, p.off(start), maxElems(es), es)
	}
	// An empty non-nil slice marks the dtype; the data is allocated only
	// after the total has been checked against the file size.
	if es == 4 {
		t.F32 = []float32{}
	} else {
		t.F64 = []float64{}
	}
	return t, n * es, nil
}

// shape reads an array of at most MaxDims dimensions, each an integer from
// 0 to math.MaxInt written without fraction or exponent.
func (p *headerParser) shape(f field) ([]int, error) {
	if err := p.punct('[', f, "an array of dimensions"); err != nil {
		return nil, err
	}
	var dims [MaxDims]int
	for n := 0; ; n++ {
		if ok, err := p.more(n, ']', f); err != nil || !ok {
			return append([]int{}, dims[:n]...), err
		}
		if n == MaxDims {
			return nil, p.errorf(p.i, "%s at offset %d: more than %d dimensions, want at most %d (MaxDims)", f, p.off(p.i), MaxDims, MaxDims)
		}
		if c := p.peek(); c != '-' && (c < '0' || c > '9') {
			return nil, p.want(f.with(fmt.Sprintf("%s[%d]", f.member, n)), "an integer >= 0")
		}
		at := p.i
		v, err := p.value(f)
		if err != nil {
			return nil, err
		}
		for _, c := range v {
			d := int(c - '0')
			switch {
			case c < '0' || c > '9':
				return nil, p.errorf(at, "%s[%d] at offset %d is %s, want an integer >= 0", f, n, p.off(at), v)
			case dims[n] > (math.MaxInt-d)/10:
				return nil, p.errorf(at, "%s[%d] at offset %d is %s, want at most %d", f, n, p.off(at), v, math.MaxInt)
			}
			dims[n] = 10*dims[n] + d
		}
	}
}

// parseHeader parses hdr strictly; see headerParser.
func (d *decoder) parseHeader(hdr []byte) (*File, []int64, error) {
	p := &headerParser{d: d, b: hdr}
	return p.parse()
}
