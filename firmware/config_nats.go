package main

// NATSConfig is the nats: section of the config file.
type NATSConfig struct{}

func (c *NATSConfig) validate() error { return nil }
