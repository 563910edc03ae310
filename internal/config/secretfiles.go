package config

import (
	"os"
	"strings"
)

// FromFile says whether v may also be given as the path of a file in
// v.Name+"_FILE": every secret, as the official postgres image reads
// POSTGRES_PASSWORD_FILE, because secrets in containers are files
// (compose and Kubernetes secrets). BACKUP_API_TOKENS_FILE has its own
// rules (entries one per line, read again on SIGHUP: api.go).
func FromFile(v Variable) bool {
	return (v.Secret || v.SecretPath) && v.Name != "BACKUP_API_TOKENS"
}

// withSecretFiles is lookup where each secret set as NAME_FILE reads as
// the file's contents, without its trailing newline (an editor's or
// `echo`'s, never part of the secret). Both NAME and NAME_FILE set, a
// file that cannot be read or an empty one is an *Error naming them; the
// value is never in it.
func withSecretFiles(lookup func(string) (string, bool)) (func(string) (string, bool), error) {
	fromFiles := map[string]string{}
	for _, v := range Variables {
		if !FromFile(v) {
			continue
		}
		fileVar := v.Name + "_FILE"
		path, _ := lookup(fileVar)
		if path = strings.TrimSpace(path); path == "" {
			continue
		}
		if value, _ := lookup(v.Name); strings.TrimSpace(value) != "" {
			return nil, &Error{Var: v.Name, Value: "", Allowed: "and " + fileVar + " are both set: set one"}
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, &Error{Var: fileVar, Value: path, Allowed: "must be a file this user can read: " + err.Error()}
		}
		secret := strings.TrimRight(string(b), "\r\n")
		if strings.TrimSpace(secret) == "" {
			return nil, &Error{Var: fileVar, Value: path, Allowed: "names an empty file: " + v.Name + " would be unset"}
		}
		fromFiles[v.Name] = secret
	}
	if len(fromFiles) == 0 {
		return lookup, nil
	}
	return func(name string) (string, bool) {
		if secret, ok := fromFiles[name]; ok {
			return secret, true
		}
		return lookup(name)
	}, nil
}
