package ftpstate

// verbs are the commands of RFC 959 and its extensions (RFC 2228, 2389,
// 2428, 2640, 3659, 7151, and the X forms of RFC 775), kept so that
// ParseCommand returns them without making a string for every request.
var verbs = func() map[string]string {
	m := make(map[string]string)
	for _, v := range []string{
		"ABOR", "ACCT", "ALLO", "APPE", "CDUP", "CWD", "DELE", "HELP", "LIST", "MKD",
		"MODE", "NLST", "NOOP", "PASS", "PASV", "PORT", "PWD", "QUIT", "REIN", "REST",
		"RETR", "RMD", "RNFR", "RNTO", "SITE", "SMNT", "STAT", "STOR", "STOU", "STRU",
		"SYST", "TYPE", "USER",
		"ADAT", "AUTH", "CCC", "CONF", "ENC", "MIC", "PBSZ", "PROT",
		"FEAT", "OPTS", "EPRT", "EPSV", "LANG", "MDTM", "MLSD", "MLST", "SIZE", "HOST",
		"XCUP", "XCWD", "XMKD", "XPWD", "XRMD",
	} {
		m[v] = v
	}
	return m
}()

// knownVerb returns b upper-cased when it is one of verbs, without
// allocating.
func knownVerb(b []byte) (string, bool) {
	var u [4]byte
	if len(b) < 3 || len(b) > len(u) {
		return "", false
	}
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		u[i] = c
	}
	v, ok := verbs[string(u[:len(b)])]
	return v, ok
}
