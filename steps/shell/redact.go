package shell

import (
	"regexp"
	"strings"
)

// redacted replaces a secret in a logged command line.
const redacted = "REDACTED"

// Secrets that may appear anywhere in an argument, a shell script included.
var (
	pemBlock       = regexp.MustCompile(`(?s)-----BEGIN [A-Z0-9 ]+-----.*?(?:-----END [A-Z0-9 ]+-----|\z)`)
	bootstrapToken = regexp.MustCompile(`\b[a-z0-9]{6}\.[a-z0-9]{16}\b`)
	longBase64     = regexp.MustCompile(`[A-Za-z0-9+/_-]{200,}={0,2}`)
)

// redactArgs is words with the secrets replaced: the value of a secret
// option, whether given as --name=value or as the next word, and what
// looks like a secret anywhere.
func redactArgs(words []string) []string {
	out := make([]string, len(words))
	for i, w := range words {
		name, _, isAssignment := strings.Cut(w, "=")
		switch {
		case i > 0 && namesSecret(words[i-1]):
			out[i] = redacted
		case isAssignment && namesSecret(name):
			out[i] = name + "=" + redacted
		default:
			out[i] = redactText(w)
		}
	}
	return out
}

// namesSecret tells whether word is the name of a secret value: a flag or a
// kubeconfig key ending in -data (--client-key-data,
// users.NAME.client-key-data), or a kubeadm token or certificate key.
func namesSecret(word string) bool {
	switch {
	case word == "--token", word == "--certificate-key":
		return true
	case !strings.HasSuffix(word, "-data"), strings.ContainsAny(word, "/: "):
		return false // a path, a volume mount or a script, not a name
	}
	return strings.HasPrefix(word, "-") || strings.Contains(word, ".")
}

func redactText(s string) string {
	s = pemBlock.ReplaceAllString(s, redacted)
	s = bootstrapToken.ReplaceAllString(s, redacted)
	return longBase64.ReplaceAllString(s, redacted)
}
