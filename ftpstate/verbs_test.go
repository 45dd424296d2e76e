package ftpstate

import "testing"

// TestParseCommandKnownVerbs checks that known verbs come back upper-cased,
// as unknown ones do, and without an allocation for the verb.
func TestParseCommandKnownVerbs(t *testing.T) {
	for _, tc := range []struct{ line, cmd, arg string }{
		{"cwd /pub", "CWD", "/pub"},
		{"Noop", "NOOP", ""},
		{"  SIZE a b ", "SIZE", "a b "},
		{"xyzzy 1", "XYZZY", "1"},
		{"Abc", "ABC", ""},
		{"", "", ""},
	} {
		cmd, arg := ParseCommand([]byte(tc.line))
		if cmd != tc.cmd || arg != tc.arg {
			t.Errorf("ParseCommand(%q) = %q, %q; want %q, %q", tc.line, cmd, arg, tc.cmd, tc.arg)
		}
	}
	for v := range verbs {
		if got, ok := knownVerb([]byte(v)); !ok || got != v {
			t.Errorf("knownVerb(%q) = %q, %v", v, got, ok)
		}
	}
	line := []byte("pwd")
	if n := testing.AllocsPerRun(100, func() { ParseCommand(line) }); n != 0 {
		t.Errorf("ParseCommand(%q) allocates %v times", line, n)
	}
}
