// Package web is the tap's page on the management address: what the LEDs
// mean, the open sessions, recent transfers, alerts with their diagnosis,
// capture health, and each session's ladder diagram (package ladder).
//
// # The model
//
// A Server is a sink of the pipeline: Event takes every event on the
// pipeline goroutine and updates a bounded picture of the tap (at most
// MaxOpen open sessions, MaxSessions ended ones, MaxTransfers transfers and
// MaxAlerts alerts; each diagram at most MaxSteps steps). The LEDs are those
// of package leds's pure Model, fed with the same events, so the page shows
// what the device shows.
//
// Browsers get the picture once (a snapshot) and then every change, pushed
// as Server-Sent Events (GET /events). Each browser has its own queue of
// Queue messages; Event never waits for one. When a browser's queue is full
// its messages are dropped and counted, and once it reads again it is told
// how many it missed ("dropped") and given a new snapshot.
//
// TFTP transfers (events of event.ProtoTFTP) are sessions "t1", "t2"...
// beside FTP's "s1": open from tftp.request to tftp.end, a transfer row at
// tftp.end, and their alerts, which follow tftp.end, in the ended
// transfer's diagram.
//
// # The page
//
// The HTML, CSS and JavaScript are embedded in the binary and need nothing
// from the internet. The page is read-only: only GET and HEAD are served.
// Every string from the wire reaches the browser as JSON and is put into the
// page with textContent, never as markup; a Content-Security-Policy allows
// only the page's own scripts, so a file named <script> is shown, not run.
//
//	GET /                         the page
//	GET /session/{id}             a session's page: its ladder diagram
//	GET /session/{id}/ladder.svg  the diagram as a standalone SVG file
//	GET /api/state                the picture as JSON
//	GET /events                   the live stream (text/event-stream)
//
// # Access
//
// Options.User and Password require HTTP basic auth; Options.Token requires
// the token, as "Authorization: Bearer TOKEN" or once as ?token=TOKEN on any
// URL, which sets a cookie for the rest. TLS is the caller's: serve Handler
// with http.Server.ServeTLS.
package web
