package truth

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"strings"
)

// TFTPTruth is the truth.json of a TFTP capture, in the shape that
// ../shared/tools/check_tftp.py reads.
type TFTPTruth struct {
	Scenario  string         `json:"scenario"`
	Transfers []TFTPTransfer `json:"transfers"`
}

// TFTPTransfer is one TFTP transfer as it really went.
type TFTPTransfer struct {
	Client       string `json:"client"` // the requester's ip:port
	Server       string `json:"server"` // ip:69
	Op           string `json:"op"`     // read, write
	File         string `json:"file"`
	Mode         string `json:"mode"`
	Bytes        int64  `json:"bytes"`
	Complete     bool   `json:"complete"`
	ErrorCode    *int   `json:"error_code"`
	Outcome      string `json:"outcome"` // done, error, timeout
	ReplyBlocked bool   `json:"reply_blocked"`
}

// LoadTFTP reads a TFTP truth.json.
func LoadTFTP(name string) (*TFTPTruth, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("truth: %w", err)
	}
	var t TFTPTruth
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, fmt.Errorf("truth: %s: %w", name, err)
	}
	return &t, nil
}

// normEndpoint makes "ip:port" and "[v6]:port" comparable.
func normEndpoint(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.String()
	}
	return s
}

// CheckTFTP scores TFTP events (JSON lines; other protocols' events are
// ignored) against the truth by check_tftp.py's rules: per transfer a
// tftp.request, a tftp.end with the truth's bytes, complete and
// error_code, reason "timeout" where the transfer timed out, and a
// tftp_reply_blocked alert for its client where the replies never reached
// it. Spurious are tftp.end events that match no transfer.
func CheckTFTP(tr *TFTPTruth, eventsJSONL []byte) (misses []string, facts, found, spurious int) {
	var reqs, ends, alerts []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(eventsJSONL))
	sc.Buffer(make([]byte, 0, 1<<20), 1<<26)
	for sc.Scan() {
		var e map[string]any
		if json.Unmarshal(sc.Bytes(), &e) != nil || e["proto"] != "tftp" {
			continue
		}
		switch e["type"] {
		case "tftp.request":
			reqs = append(reqs, e)
		case "tftp.end":
			ends = append(ends, e)
		case "alert":
			alerts = append(alerts, e)
		}
	}
	str := func(e map[string]any, k string) string { s, _ := e[k].(string); return s }
	key := func(e map[string]any) string {
		return normEndpoint(str(e, "client")) + " " + strings.ToLower(str(e, "op")) + " " + str(e, "file")
	}
	check := func(ok bool, what string) {
		facts++
		if ok {
			found++
		} else {
			misses = append(misses, what)
		}
	}
	code := func(e map[string]any) *int {
		f, ok := e["error_code"].(float64)
		if !ok {
			return nil
		}
		c := int(f)
		return &c
	}
	sameCode := func(a, b *int) bool { return a == nil && b == nil || a != nil && b != nil && *a == *b }
	usedReq, usedEnd := map[int]bool{}, map[int]bool{}
	for _, t := range tr.Transfers {
		k := normEndpoint(t.Client) + " " + t.Op + " " + t.File
		name := fmt.Sprintf("%s %s %s %s", tr.Scenario, t.Client, t.Op, t.File)
		ri := -1
		for i, e := range reqs {
			if !usedReq[i] && key(e) == k {
				ri = i
				break
			}
		}
		check(ri >= 0, name+": tftp.request missing")
		if ri >= 0 {
			usedReq[ri] = true
		}
		best, bestScore := -1, -1
		for i, e := range ends {
			if usedEnd[i] || key(e) != k {
				continue
			}
			score := 0
			if b, _ := e["bytes"].(float64); int64(b) == t.Bytes {
				score++
			}
			if c, _ := e["complete"].(bool); c == t.Complete {
				score++
			}
			if sameCode(code(e), t.ErrorCode) {
				score++
			}
			if score > bestScore {
				best, bestScore = i, score
			}
		}
		if best < 0 {
			n := 4
			if t.Outcome == "timeout" {
				n++
			}
			facts += n
			misses = append(misses, fmt.Sprintf("%s: tftp.end missing (%d facts)", name, n))
		} else {
			usedEnd[best] = true
			e := ends[best]
			check(true, "")
			b, _ := e["bytes"].(float64)
			check(int64(b) == t.Bytes, fmt.Sprintf("%s: bytes %v != %d", name, e["bytes"], t.Bytes))
			c, _ := e["complete"].(bool)
			check(c == t.Complete, fmt.Sprintf("%s: complete %v != %v", name, e["complete"], t.Complete))
			check(sameCode(code(e), t.ErrorCode), fmt.Sprintf("%s: error_code %v != %v", name, e["error_code"], t.ErrorCode))
			if t.Outcome == "timeout" {
				check(e["reason"] == "timeout", fmt.Sprintf("%s: reason %v != timeout", name, e["reason"]))
			}
		}
		if t.ReplyBlocked {
			ok := false
			for _, a := range alerts {
				if a["kind"] == "tftp_reply_blocked" && normEndpoint(str(a, "client")) == normEndpoint(t.Client) {
					ok = true
				}
			}
			check(ok, name+": alert tftp_reply_blocked missing")
		}
	}
	for i, e := range ends {
		if !usedEnd[i] {
			spurious++
			misses = append(misses, fmt.Sprintf("spurious tftp.end %s %s %s", str(e, "client"), str(e, "op"), str(e, "file")))
		}
	}
	return misses, facts, found, spurious
}
