package leds

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// SysfsLEDs is where Linux lists its LEDs, ACT and PWR on a Raspberry Pi
// (led0 and led1 on kernels before 6.1).
const SysfsLEDs = "/sys/class/leds"

// ClaimTrigger takes the LED whose sysfs directory is dir away from the
// kernel: it sets its trigger to "none", so that what the kernel drives it
// with (mmc0 for ACT, default-on for PWR) stops overriding the brightness
// ftptap writes. restore puts back the trigger found. The files are owned by
// root unless a udev rule says otherwise; a refusal is an error naming the
// file.
//
// Some triggers have settings of their own (timer's delay_on and
// delay_off); restore brings back the trigger with its default settings.
func ClaimTrigger(dir string) (restore func() error, err error) {
	path := filepath.Join(dir, "trigger")
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("leds: %w", err)
	}
	cur := currentTrigger(b)
	if cur == "" {
		return nil, fmt.Errorf("leds: %s: no trigger selected in %q", path, bytes.TrimSpace(b))
	}
	if err := writeTrigger(path, "none"); err != nil {
		return nil, err
	}
	return func() error { return writeTrigger(path, cur) }, nil
}

// currentTrigger returns the selected trigger of a sysfs trigger file: the
// one in brackets among all those offered ("none rc-feedback [mmc0] timer").
func currentTrigger(b []byte) string {
	for _, f := range bytes.Fields(b) {
		if len(f) > 2 && f[0] == '[' && f[len(f)-1] == ']' {
			return string(f[1 : len(f)-1])
		}
	}
	return ""
}

func writeTrigger(path, trigger string) error {
	// A sysfs attribute takes one write; O_TRUNC is accepted and ignored
	// there (as with the shell's "echo none > trigger"), and makes the
	// same code right on a plain file.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return fmt.Errorf("leds: %w", err)
	}
	_, werr := f.WriteString(trigger)
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		return fmt.Errorf("leds: write %q to %s: %w", trigger, path, err)
	}
	return nil
}
