package voicemail

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
)

// keepUnknown returns out, the encoding of v (struct type t: a rewritten row), with what cur
// (the row as read, valid JSON) holds beyond t put back as stored: members whose keys t has no
// field for, appended in their order, and for each member whose value the rewrite left as it
// was, its stored bytes, so fields added inside it survive too (see update). It scans cur and
// out without decoding them; only a stored value holding keys that out's lacks is decoded, to
// tell a changed value from one that holds more than t knows.
func keepUnknown(t reflect.Type, v reflect.Value, cur, out []byte) []byte {
	fields := jsonFields(t, make([]jsonField, 0, 32))
	outMembers := members(out, make([]member, 0, 32))
	var kept [][]byte // stored values that replace out's, by out member; nil until one does
	var extra []member
	for _, m := range members(cur, make([]member, 0, 32)) {
		f, ok := fieldFor(fields, m.key)
		if !ok {
			extra = append(extra, m)
			continue
		}
		if f.index < 0 {
			continue
		}
		j := memberIndex(outMembers, f.name)
		if j < 0 || within(m.value, outMembers[j].value) {
			continue
		}
		if b, ok := keepValue(f.typ, v.Field(f.index), m.value, outMembers[j].value); ok {
			if kept == nil {
				kept = make([][]byte, len(outMembers))
			}
			kept[j] = b
		}
	}
	if kept == nil && extra == nil {
		return out
	}
	buf := make([]byte, 0, len(out)+len(cur))
	buf = append(buf, '{')
	for j, m := range outMembers {
		value := m.value
		if kept != nil && kept[j] != nil {
			value = kept[j]
		}
		buf = appendMember(buf, m.key, value)
	}
	for _, m := range extra {
		buf = appendMember(buf, m.key, m.value)
	}
	return append(buf, '}')
}

// keepValue returns what to write for a value that the rewrite encoded as encoded and the row
// held as stored (valid JSON, bytes differing): stored itself when it decodes to fv, that is
// the rewrite left the value as it was, or for a map with string keys the encoded map with
// each entry kept that way. ok is false when encoded stands.
func keepValue(ft reflect.Type, fv reflect.Value, stored, encoded []byte) (b []byte, ok bool) {
	switch ft.Kind() {
	case reflect.Map:
		if ft.Key().Kind() != reflect.String || fv.IsNil() {
			break
		}
		storedEntries := members(stored, make([]member, 0, 16))
		entries := members(encoded, make([]member, 0, 16))
		buf := append(make([]byte, 0, len(encoded)+len(stored)), '{')
		for _, e := range entries {
			value := e.value
			if i := memberIndexKey(storedEntries, e.key); i >= 0 && !within(storedEntries[i].value, e.value) {
				var k string
				if json.Unmarshal(e.key, &k) == nil {
					if kv := fv.MapIndex(reflect.ValueOf(k).Convert(ft.Key())); kv.IsValid() {
						if b, keep := keepValue(ft.Elem(), kv, storedEntries[i].value, e.value); keep {
							value, ok = b, true
						}
					}
				}
			}
			buf = appendMember(buf, e.key, value)
		}
		return append(buf, '}'), ok
	case reflect.Struct, reflect.Pointer, reflect.Slice, reflect.Array, reflect.Interface:
	default: // a string, number or bool holds nothing beyond its type
		return nil, false
	}
	was := reflect.New(ft)
	if json.Unmarshal(stored, was.Interface()) != nil || !reflect.DeepEqual(was.Elem().Interface(), fv.Interface()) {
		return nil, false
	}
	return stored, true
}

// within reports whether stored (valid JSON) holds nothing that encoded lacks: it is the same
// bytes, or a value other than an object or array, or an object whose every key encoded has
// too, with a value within encoded's. Then encoded is what to write, changed or not.
func within(stored, encoded []byte) bool {
	if bytes.Equal(stored, encoded) {
		return true
	}
	i := skipSpace(stored, 0)
	if i >= len(stored) || (stored[i] != '{' && stored[i] != '[') {
		return true
	}
	if stored[i] == '[' {
		return false // an array's elements are not matched up: decode to compare
	}
	var sa, ea [16]member
	sm, em := members(stored, sa[:0]), members(encoded, ea[:0])
	for _, m := range sm {
		j := memberIndexKey(em, m.key)
		if j < 0 || !within(m.value, em[j].value) {
			return false
		}
	}
	return true
}

// appendMember appends "key":value to an object being written, after a comma unless first.
func appendMember(buf, key, value []byte) []byte {
	if len(buf) > 1 {
		buf = append(buf, ',')
	}
	buf = append(buf, key...)
	buf = append(buf, ':')
	return append(buf, value...)
}

// jsonField is a field that encoding/json decodes object members into.
type jsonField struct {
	name  string       // its key as json.Marshal writes it
	index int          // in the row's struct; -1 for a field promoted from an embedded struct
	typ   reflect.Type // the field's type
}

// jsonFields appends struct type t's fields as encoding/json names them: a field's tag name,
// or else its name; fields of an embedded struct without a tag name are promoted.
func jsonFields(t reflect.Type, fields []jsonField) []jsonField {
	return appendJSONFields(t, fields, false)
}

func appendJSONFields(t reflect.Type, fields []jsonField, promoted bool) []jsonField {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if ft := f.Type; f.Anonymous && name == "" {
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				fields = appendJSONFields(ft, fields, true)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		index := i
		if promoted {
			index = -1
		}
		fields = append(fields, jsonField{name: name, index: index, typ: f.Type})
	}
	return fields
}

// fieldFor finds the field that encoding/json decodes a member with this key (as written,
// quoted) into: the field of that name, else one whose name matches ignoring case.
func fieldFor(fields []jsonField, key []byte) (jsonField, bool) {
	k := key[1 : len(key)-1]
	if bytes.IndexByte(k, '\\') >= 0 { // an escaped key: compare what it spells
		var unq string
		if json.Unmarshal(key, &unq) == nil {
			k = []byte(unq)
		}
	}
	for _, f := range fields {
		if f.name == string(k) {
			return f, true
		}
	}
	for _, f := range fields {
		if strings.EqualFold(f.name, string(k)) {
			return f, true
		}
	}
	return jsonField{}, false
}

// member is one member of a JSON object, as written: its key (quoted) and its value.
type member struct{ key, value []byte }

// memberIndex finds the member whose key is name, as json.Marshal writes a field's key.
func memberIndex(ms []member, name string) int {
	for i, m := range ms {
		if len(m.key) == len(name)+2 && string(m.key[1:len(m.key)-1]) == name {
			return i
		}
	}
	return -1
}

// memberIndexKey finds the member whose key is written as key.
func memberIndexKey(ms []member, key []byte) int {
	for i, m := range ms {
		if bytes.Equal(m.key, key) {
			return i
		}
	}
	return -1
}

// members appends the members of the JSON object data (valid JSON) to ms.
func members(data []byte, ms []member) []member {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return ms
	}
	for i = skipSpace(data, i+1); i < len(data) && data[i] == '"'; i = skipSpace(data, i+1) {
		start := i
		i = skipValue(data, i)
		key := data[start:i]
		i = skipSpace(data, skipSpace(data, i)+1) // past ':'
		start = i
		i = skipValue(data, i)
		ms = append(ms, member{key: key, value: data[start:i]})
		if i = skipSpace(data, i); i >= len(data) || data[i] != ',' {
			break
		}
	}
	return ms
}

func skipSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
		i++
	}
	return i
}

// skipValue returns the index just past the JSON value that starts at data[i].
func skipValue(data []byte, i int) int {
	depth := 0
	for ; i < len(data); i++ {
		switch data[i] {
		case '"':
			for i++; i < len(data) && data[i] != '"'; i++ {
				if data[i] == '\\' {
					i++
				}
			}
			if depth == 0 {
				return i + 1
			}
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 { // ends the enclosing object: the value was a number or literal
				return i
			}
			if depth--; depth == 0 {
				return i + 1
			}
		case ',', ' ', '\t', '\n', '\r':
			if depth == 0 {
				return i
			}
		}
	}
	return i
}
