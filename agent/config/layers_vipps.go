package config

import (
	"slices"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/tillbox/tillbox/agent/fleet/wire"
)

// checkVippsAddress refuses a layer that moves the box's Vipps address
// (vipps.environment or vipps.base_url, keys the layer set) away from the
// file's, unless the layer is the till's own and carries both secrets
// sealed: the box would otherwise send its own credentials wherever
// headquarters points it. With both sealed, the secrets sent there are
// the ones headquarters chose for that address.
func (d *decoder) checkVippsAddress(l Layer, level wire.Level, keys map[string]toml.Primitive, fileAddress string) {
	field := ""
	for _, k := range []string{"base_url", "environment"} {
		if _, ok := keys[k]; ok {
			field = "vipps." + k
			break
		}
	}
	if field == "" || d.c.BaseURL() == fileAddress {
		return
	}
	var missing []string
	for _, f := range SealedKeys {
		if _, ok := l.Value.Sealed[f]; !ok || d.layerSecret[f].Where == "" || !strings.HasPrefix(d.layerSecret[f].Where, l.Key+",") {
			missing = append(missing, f)
		}
	}
	switch {
	case level == wire.LevelTill && len(missing) == 0:
		d.moved = &Problem{Field: field, File: LayerFile(l.Key)}
	case level != wire.LevelTill:
		d.fail(field, "moves the box's Vipps address away from its configuration file's: only the till's own layer may, with "+strings.Join(SealedKeys, " and ")+" sealed in it (the box never sends its own credentials to an address headquarters chose)", 0)
	case len(missing) > 0:
		slices.Sort(missing)
		d.fail(field, "moves the box's Vipps address away from its configuration file's without "+strings.Join(missing, " and ")+" sealed in the same layer (the box never sends its own credentials to an address headquarters chose)", 0)
	}
}

// refuseMove refuses the layer that moved the Vipps address when the
// environment's secret field replaces the one sealed in it: the box's own
// secret would go to headquarters' address.
func (d *decoder) refuseMove(field string) {
	d.problems = append(d.problems, Problem{Field: d.moved.Field, File: d.moved.File,
		Reason: "moves the box's Vipps address away from its configuration file's while the environment variable " + envName(field) + " replaces " + field + " sealed in the layer (the box never sends its own credentials to an address headquarters chose)"})
}
