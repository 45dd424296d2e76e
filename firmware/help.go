package main

import (
	"flag"
	"fmt"
	"reflect"
	"strings"
)

// printFlags lists a command's flags as the README writes them:
// "--flag VALUE", then what it does and its default. The VALUE is the
// back-quoted word of the usage text, as flag.UnquoteUsage finds it.
func printFlags(fs *flag.FlagSet) {
	w := fs.Output()
	fs.VisitAll(func(f *flag.Flag) {
		name, usage := flag.UnquoteUsage(f)
		if isBoolFlag(f) {
			name = ""
		} else if name == "" || name == "value" {
			name = "VALUE"
		}
		head := "  --" + f.Name
		if name != "" {
			head += " " + strings.ToUpper(name)
		}
		fmt.Fprintln(w, head)
		line := "      " + usage
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "[]" && !strings.Contains(usage, "(default") {
			line += fmt.Sprintf(" (default %s)", f.DefValue)
		}
		fmt.Fprintln(w, line)
	})
}

func isBoolFlag(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag() || reflect.TypeOf(f.Value).String() == "*flag.boolValue"
}

// wantsHelp reports whether args ask for help (-h, -help, --help) before
// any "--".
func wantsHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "-help", "--help":
			return true
		}
	}
	return false
}
