package main

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// decodeStrict decodes a YAML config into cfg, walking the document itself
// so that each error names its line and the key at fault: an unknown key
// (in any section, and in the items of a list of sections), or a value of
// the wrong kind, with what the key wants. yaml.v3's KnownFields gives the
// line but not the key, and Node.Decode checks no keys at all.
func decodeStrict(b []byte, cfg any) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		if !strings.Contains(msg, "line ") {
			// Some of yaml.v3's errors (control characters, bad UTF-8)
			// name no place: name the line of the first such byte.
			msg = fmt.Sprintf("line %d: not YAML: %s", badByteLine(b), msg)
		}
		return errors.New(msg)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil // empty file: defaults
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode && !isNull(root) {
		return fmt.Errorf("line %d: want keys (key: value), got %s", root.Line, describe(root))
	}
	return decodeValue(root, reflect.ValueOf(cfg).Elem(), "")
}

var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" }

func decodeValue(n *yaml.Node, v reflect.Value, path string) error {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if isNull(n) {
		return nil // "key:" with nothing: the default
	}
	if v.CanAddr() && v.Addr().Type().Implements(unmarshalerType) {
		return decodeLeaf(n, v, path)
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.Type().Elem().Kind() != reflect.Struct {
			return decodeLeaf(n, v, path)
		}
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		return decodeValue(n, v.Elem(), path)
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return fmt.Errorf("line %d: %s: want a section of keys, got %s", n.Line, sectionName(path), describe(n))
		}
		fields := yamlFields(v)
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			if first, dup := seen[k.Value]; dup {
				return fmt.Errorf("line %d: key %q in %s appears twice (first on line %d)", k.Line, k.Value, sectionName(path), first)
			}
			seen[k.Value] = k.Line
			f, ok := fields[k.Value]
			if !ok {
				return fmt.Errorf("line %d: unknown key %q in %s (known: %s)", k.Line, k.Value, sectionName(path), knownKeys(fields))
			}
			if err := decodeValue(val, f, joinPath(path, k.Value)); err != nil {
				return err
			}
		}
		return nil
	case reflect.Slice:
		et := v.Type().Elem()
		if et.Kind() == reflect.Pointer {
			et = et.Elem()
		}
		if et.Kind() != reflect.Struct || n.Kind != yaml.SequenceNode {
			return decodeLeaf(n, v, path)
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			if err := decodeValue(item, s.Index(i), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		v.Set(s)
		return nil
	}
	return decodeLeaf(n, v, path)
}

// decodeLeaf decodes one value with yaml.v3 and rewrites its error to name
// the key and say what it wants.
func decodeLeaf(n *yaml.Node, v reflect.Value, path string) error {
	err := n.Decode(v.Addr().Interface())
	if err == nil {
		return nil
	}
	msg := err.Error()
	var te *yaml.TypeError
	if errors.As(err, &te) {
		want := wantOf(v.Type())
		got := describe(n)
		return fmt.Errorf("line %d: %s: bad value %s: want %s", n.Line, path, got, want)
	}
	// An UnmarshalYAML method's own error: keep its words.
	msg = strings.TrimPrefix(msg, "yaml: ")
	if strings.HasPrefix(msg, "line ") {
		return fmt.Errorf("%s: %s", path, msg)
	}
	return fmt.Errorf("line %d: %s: %s", n.Line, path, msg)
}

// yamlFields maps the yaml keys of a struct to its fields, following
// ",inline" structs as yaml.v3 does.
func yamlFields(v reflect.Value) map[string]reflect.Value {
	m := map[string]reflect.Value{}
	t := v.Type()
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		tag := sf.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if strings.Contains(opts, "inline") && sf.Type.Kind() == reflect.Struct {
			for k, f := range yamlFields(v.Field(i)) {
				m[k] = f
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(sf.Name)
		}
		m[name] = v.Field(i)
	}
	return m
}

func knownKeys(fields map[string]reflect.Value) string {
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return strings.Join(keys, ", ")
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func sectionName(path string) string {
	if path == "" {
		return "the top level"
	}
	return path
}

// describe shows a node as the user wrote it.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a section of keys"
	case yaml.SequenceNode:
		return "a list"
	}
	return fmt.Sprintf("%q", n.Value)
}

var durationType = reflect.TypeFor[time.Duration]()

// wantOf says what kind of value a Go type takes, in the user's words.
func wantOf(t reflect.Type) string {
	if t == durationType {
		return "a duration such as 30s, 5m or 1h30m"
	}
	switch t.Kind() {
	case reflect.Pointer:
		return wantOf(t.Elem())
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "a whole number"
	case reflect.Uint16:
		return "a number from 0 to 65535"
	case reflect.Uint, reflect.Uint8, reflect.Uint32, reflect.Uint64:
		return "a whole number, not negative"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Slice:
		switch t.Elem().Kind() {
		case reflect.Uint16:
			return "a list of port numbers such as [21, 2121]"
		case reflect.String:
			return "a list of strings"
		}
		return "a list"
	case reflect.Map:
		return "a section of keys"
	case reflect.Struct:
		return "a section of keys"
	}
	return t.String()
}

// badByteLine returns the line of the first byte YAML refuses (a control
// character or invalid UTF-8), or the last line.
func badByteLine(b []byte) int {
	line := 1
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n <= 1 || r < 0x20 && r != '\t' && r != '\n' && r != '\r' || r == 0x7f {
			return line
		}
		if r == '\n' {
			line++
		}
		b = b[n:]
	}
	return line
}
