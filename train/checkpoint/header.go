package checkpoint

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
)

// headerIn is the header as read; nil pointers mark missing or null members.
type headerIn struct {
	Meta    json.RawMessage // nil if missing
	Tensors []tensorIn
	HasTens bool // "tensors" was present (and an array)
}

type tensorIn struct {
	Name   *string
	DType  *string
	Shape  *[]int64
	Offset int64 // file offset of the tensor's JSON object
}

// headerParser reads the header JSON strictly: member names must match
// exactly (encoding/json alone would match them case-insensitively),
// duplicates and unknown members are errors, and nothing may follow the
// object.
type headerParser struct {
	d   *decoder
	dec *json.Decoder
}

// off is the file offset the parser has reached.
func (p *headerParser) off() int64 { return prefixLen + p.dec.InputOffset() }

func (p *headerParser) errorf(off int64, format string, args ...any) error {
	return p.d.corrupt(off, format, args...)
}

// jsonErr describes err, met while reading field, whose value starts near
// file offset start. (The offsets inside encoding/json's errors are relative
// to whatever it last buffered, so they are not reported.)
func (p *headerParser) jsonErr(field string, start int64, err error) error {
	e := &Error{Path: p.d.path, Offset: start, Kind: ErrCorrupt, Err: err}
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		e.Msg = fmt.Sprintf("%s near offset %d: header JSON ends early, in the middle of a value", field, start)
	case errors.As(err, &syn):
		e.Msg = fmt.Sprintf("%s near offset %d: header is not valid JSON: %v", field, start, err)
	case errors.As(err, &typ):
		if typ.Field != "" {
			field += "." + typ.Field
		}
		e.Msg = fmt.Sprintf("%s near offset %d is a JSON %s, want %s", field, start, typ.Value, jsonKind(typ.Type))
	default:
		e.Msg = fmt.Sprintf("%s near offset %d: %v", field, start, err)
	}
	return e
}

// jsonKind describes the JSON that decodes into t, for error messages.
func jsonKind(t reflect.Type) string {
	if t == nil {
		return "something else"
	}
	switch t.Kind() {
	case reflect.Int64:
		return "an integer within int64 range"
	case reflect.String:
		return "a string"
	case reflect.Slice:
		return "an array"
	}
	return t.String()
}

// describe names the JSON value that starts with tok.
func describe(tok json.Token) string {
	switch v := tok.(type) {
	case json.Delim:
		switch v {
		case '{':
			return "an object"
		case '[':
			return "an array"
		}
		return fmt.Sprintf("%q", rune(v))
	case string:
		return "a string"
	case float64, json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%v", tok)
}

// delim reads a token that must be the delimiter want, naming field and
// what was expected otherwise.
func (p *headerParser) delim(field string, want json.Delim, desc string) error {
	start := p.off()
	tok, err := p.dec.Token()
	if err != nil {
		return p.jsonErr(field, start, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return p.errorf(start, "%s near offset %d is %s, want %s", field, start, describe(tok), desc)
	}
	return nil
}

// key reads the next member name of an object; ok is false at its end.
func (p *headerParser) key(field string) (key string, ok bool, err error) {
	if !p.dec.More() {
		return "", false, p.delim(field, '}', "the end of the object")
	}
	start := p.off()
	tok, err := p.dec.Token()
	if err != nil {
		return "", false, p.jsonErr(field, start, err)
	}
	key, _ = tok.(string) // the decoder only yields strings in key position
	return key, true, nil
}

// value decodes the next value into v (a pointer).
func (p *headerParser) value(field string, v any) error {
	start := p.off()
	if err := p.dec.Decode(v); err != nil {
		return p.jsonErr(field, start, err)
	}
	return nil
}

func (p *headerParser) parse() (*headerIn, error) {
	var h headerIn
	tok, err := p.dec.Token()
	if errors.Is(err, io.EOF) {
		return nil, p.errorf(prefixLen, "header at offset %d is empty, want a JSON object", prefixLen)
	}
	if err != nil {
		return nil, p.jsonErr("header", prefixLen, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, p.errorf(prefixLen, "header at offset %d is %s, want a JSON object", prefixLen, describe(tok))
	}
	for {
		start := p.off()
		key, ok, err := p.key("header")
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		switch key {
		case "meta":
			if h.Meta != nil {
				return nil, p.errorf(start, "header: duplicate member \"meta\" near offset %d", start)
			}
			if err := p.value("header.meta", &h.Meta); err != nil {
				return nil, err
			}
		case "tensors":
			if h.HasTens {
				return nil, p.errorf(start, "header: duplicate member \"tensors\" near offset %d", start)
			}
			h.HasTens = true
			if err := p.delim("header.tensors", '[', "an array"); err != nil {
				return nil, err
			}
			for p.dec.More() {
				t, err := p.tensor(len(h.Tensors))
				if err != nil {
					return nil, err
				}
				h.Tensors = append(h.Tensors, t)
			}
			if err := p.delim("header.tensors", ']', "the end of the array"); err != nil {
				return nil, err
			}
		default:
			return nil, p.errorf(start, "header: unknown member %q near offset %d, want \"meta\" or \"tensors\"", key, start)
		}
	}
	if _, err := p.dec.Token(); !errors.Is(err, io.EOF) {
		off := p.off()
		return nil, p.errorf(off, "header: unexpected data near offset %d after the JSON object, want the end of the header", off)
	}
	return &h, nil
}

// tensor reads header.tensors[i].
func (p *headerParser) tensor(i int) (tensorIn, error) {
	field := fmt.Sprintf("header.tensors[%d]", i)
	t := tensorIn{Offset: p.off()}
	if err := p.delim(field, '{', "an object"); err != nil {
		return t, err
	}
	for {
		start := p.off()
		key, ok, err := p.key(field)
		if err != nil {
			return t, err
		}
		if !ok {
			return t, nil
		}
		var dst any
		dup := false
		switch key {
		case "name":
			dup, dst = t.Name != nil, &t.Name
		case "dtype":
			dup, dst = t.DType != nil, &t.DType
		case "shape":
			dup, dst = t.Shape != nil, &t.Shape
		default:
			return t, p.errorf(start, "%s: unknown member %q near offset %d, want \"name\", \"dtype\" or \"shape\"", field, key, start)
		}
		if dup {
			return t, p.errorf(start, "%s: duplicate member %q near offset %d", field, key, start)
		}
		if err := p.value(field+"."+key, dst); err != nil {
			return t, err
		}
	}
}

// parseJSON parses hdr strictly.
func (d *decoder) parseJSON(hdr []byte) (*headerIn, error) {
	p := &headerParser{d: d, dec: json.NewDecoder(bytes.NewReader(hdr))}
	return p.parse()
}
