package config

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
)

// The config file is the seed's config.sh reduced to what can be read
// without a shell: assignments, optionally exported, whose value is a plain
// word, a quoted string or "${KEY:-default}" for the variable being set.
var (
	assignment = regexp.MustCompile(`^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$`)
	defaulted  = regexp.MustCompile(`^\$\{([A-Za-z_][A-Za-z0-9_]*):?-(.*)\}$`)
)

// fileSetting is a variable the config file sets: its value, and the line
// of its last assignment.
type fileSetting struct {
	value string
	line  int
}

func readFile(path string) (map[string]fileSetting, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseFile(path, string(data))
}

func parseFile(path, text string) (map[string]fileSetting, error) {
	vars := map[string]fileSetting{}
	var errs []error
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		m := assignment.FindStringSubmatch(line)
		if m == nil {
			errs = append(errs, fmt.Errorf("%s:%d: %q is not an assignment; write KEY=VALUE", path, i+1, line))
			continue
		}
		value, err := parseValue(m[1], m[2])
		if err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: %s: %w", path, i+1, m[1], err))
			continue
		}
		vars[m[1]] = fileSetting{value, i + 1}
	}
	return vars, errors.Join(errs...)
}

// parseValue reads what follows "KEY=".
func parseValue(key, raw string) (string, error) {
	var body, rest string
	var quote byte
	switch {
	case strings.HasPrefix(raw, "'"):
		end := strings.IndexByte(raw[1:], '\'') + 1
		if end == 0 {
			return "", errors.New("missing closing '")
		}
		return raw[1:end], comment(raw[end+1:])
	case strings.HasPrefix(raw, `"`):
		end := closingQuote(raw)
		if end < 0 {
			return "", errors.New(`missing closing "`)
		}
		body, rest, quote = raw[1:end], raw[end+1:], '"'
	default:
		end := strings.IndexAny(raw, " \t")
		if end < 0 {
			end = len(raw)
		}
		body, rest = raw[:end], raw[end:]
	}
	if err := comment(rest); err != nil {
		return "", err
	}

	if m := defaulted.FindStringSubmatch(body); m != nil {
		if m[1] != key {
			return "", fmt.Errorf("only %s=\"${%s:-default}\" can refer to a variable, not ${%s}", key, key, m[1])
		}
		body = m[2]
		if quote == 0 && len(body) >= 2 && (body[0] == '"' || body[0] == '\'') && body[len(body)-1] == body[0] {
			body, quote = body[1:len(body)-1], body[0]
		}
	}
	switch quote {
	case '\'':
		return body, nil
	case '"':
		return unescape(body)
	}
	if strings.ContainsAny(body, "$`\\'\";&|<>()") {
		return "", fmt.Errorf("%q needs quoting, and variable references other than ${%s:-default} are not supported", body, key)
	}
	return body, nil
}

// comment accepts what may follow a value: nothing, or a comment.
func comment(rest string) error {
	if rest = strings.TrimSpace(rest); rest != "" && !strings.HasPrefix(rest, "#") {
		return fmt.Errorf("unexpected %q after the value; quote values that contain spaces", rest)
	}
	return nil
}

// closingQuote finds the " that ends the double-quoted string s starts with.
func closingQuote(s string) int {
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return -1
}

// unescape resolves the backslash escapes of a double-quoted shell string and
// refuses the expansions it would perform.
func unescape(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && i+1 < len(s) && strings.IndexByte("$`\"\\", s[i+1]) >= 0:
			i++
			b.WriteByte(s[i])
		case c == '$' || c == '`':
			return "", fmt.Errorf("%q: variable references other than ${KEY:-default} and command substitution are not supported", s)
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}
