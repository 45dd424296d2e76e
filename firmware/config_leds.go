package main

// LEDConfig is the leds: section of the config file.
type LEDConfig struct{}

func (c *LEDConfig) validate() error { return nil }
