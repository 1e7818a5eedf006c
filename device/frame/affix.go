package frame

import "bytes"

// Affixes are a prefix and a suffix a scanner is configured to add to every
// scan, stripped again where present. A scan without them is kept as it is.
type Affixes struct {
	Prefix, Suffix string
}

// Strip returns b without the prefix and the suffix, each only where
// present. The result shares b's bytes.
func (a Affixes) Strip(b []byte) []byte {
	if a.Prefix != "" {
		b = bytes.TrimPrefix(b, []byte(a.Prefix))
	}
	if a.Suffix != "" {
		b = bytes.TrimSuffix(b, []byte(a.Suffix))
	}
	return b
}
