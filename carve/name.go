package carve

import (
	"strings"
	"unicode/utf8"
)

// maxNameBytes caps the length of a carved file's name in bytes, leaving
// room under the usual 255-byte limit for a collision number and the
// sidecar's suffix.
const maxNameBytes = 160

// SafeName turns a file name from the wire into one file name that is safe
// to create in a directory: the last element of the path (after '/' or
// '\'), with control bytes, invalid UTF-8 and the characters that Windows
// forbids ('<', '>', ':', '"', '|', '?', '*') replaced by '_', a leading dot
// (a hidden file, "." and "..") and trailing dots and spaces replaced, device
// names (CON, PRN, AUX, NUL, COM1-9, LPT1-9, with or without an extension)
// prefixed with '_', and at most maxNameBytes bytes, cut on a character
// boundary with the extension kept. An empty result is "unnamed".
func SafeName(s string) string {
	if i := strings.LastIndexAny(s, `/\`); i >= 0 {
		s = s[i+1:]
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == utf8.RuneError && size <= 1, r < 0x20, r == 0x7f, r >= 0x80 && r < 0xa0,
			r == '\u2028', r == '\u2029', r == '\ufeff':
			b.WriteByte('_')
		case strings.ContainsRune(`<>:"|?*`, r):
			b.WriteByte('_')
		default:
			b.WriteRune(r)
		}
	}
	n := b.String()
	// Leading dots hide a file (and make "." and ".."); trailing dots and
	// spaces are dropped by Windows, which would make two names one.
	if strings.HasPrefix(n, ".") {
		n = "_" + n[1:]
	}
	if t := strings.TrimRight(n, ". "); len(t) < len(n) {
		n = t + strings.Repeat("_", len(n)-len(t))
	}
	if n == "" {
		n = "unnamed"
	}
	if isDeviceName(n) {
		n = "_" + n
	}
	return capName(n, maxNameBytes)
}

// isDeviceName reports whether n is a Windows device name, which stays a
// device whatever its extension ("CON.txt" too).
func isDeviceName(n string) bool {
	base := n
	if i := strings.IndexByte(base, '.'); i >= 0 {
		base = base[:i]
	}
	base = strings.ToUpper(strings.TrimRight(base, " "))
	switch base {
	case "CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$":
		return true
	}
	if len(base) == 4 && (strings.HasPrefix(base, "COM") || strings.HasPrefix(base, "LPT")) && base[3] >= '0' && base[3] <= '9' {
		return true
	}
	return false
}

// capName cuts n to at most max bytes on a character boundary, keeping a
// short extension.
func capName(n string, max int) string {
	if len(n) <= max {
		return n
	}
	ext := ""
	if i := strings.LastIndexByte(n, '.'); i > 0 && len(n)-i <= 16 {
		ext = n[i:]
		n = n[:i]
	}
	keep := max - len(ext)
	for keep > 0 && !utf8.RuneStart(n[keep]) {
		keep--
	}
	return n[:keep] + ext
}

// numbered returns name with n inserted before its extension: "a.bin",
// 2 gives "a-2.bin".
func numbered(name string, n int) string {
	ext := ""
	if i := strings.LastIndexByte(name, '.'); i > 0 {
		name, ext = name[:i], name[i:]
	}
	return name + "-" + itoa(n) + ext
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	return string(b[i:])
}
