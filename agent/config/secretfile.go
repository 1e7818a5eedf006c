package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/tillbox/tillbox/agent/epayment"
)

// ReadSecretFile reads the secret a key's _file names: file, relative to
// dir unless absolute, holds it with any surrounding space. It returns the
// secret, the path read, and whether every user can read that file (the
// caller warns: chmod 640 it). The error, "cannot read PATH: REASON" or
// "PATH is empty", is for a Problem of the _file key; it holds no secret.
// The box's configuration and tillbox-hq's both read their secret files so.
func ReadSecretFile(dir, file string) (secret epayment.Secret, path string, everyoneReads bool, err error) {
	path = file
	if !filepath.IsAbs(path) {
		path = filepath.Join(dir, path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return "", path, false, fmt.Errorf("cannot read %s: %v", path, err)
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return "", path, false, fmt.Errorf("%s is empty", path)
	}
	fi, err := os.Stat(path)
	return epayment.Secret(v), path, err == nil && fi.Mode().Perm()&0o004 != 0, nil
}
