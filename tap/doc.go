// Package tap provides the packet sources of ftptap: capture files (pcap and
// pcapng, gzip-compressed or not) for replay, and live capture on the two
// ports of an inline tap. Every source hands out frames tagged with the tap
// port they entered on, in capture order, so the same pipeline runs on both.
package tap
