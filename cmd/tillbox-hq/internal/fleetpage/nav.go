package fleetpage

// navLink is one of the views the menu of every page links to.
type navLink struct{ Href, Name, ID string }

// views are the views that are on, in the menu's order: the fleet, then
// each part headquarters was given.
func (o *Options) views() []navLink {
	v := []navLink{{Href: "./", Name: "Fleet"}}
	if o.Alerts != nil {
		v = append(v, navLink{Href: "alerts", Name: "Alerts"})
	}
	if o.Settings != nil {
		v = append(v, navLink{Href: "settings", Name: "Settings"})
	}
	if o.Refunds != nil {
		v = append(v, navLink{Href: "refunds", Name: "Refunds", ID: "refunds-link"})
	}
	if o.Actions != nil {
		v = append(v, navLink{Href: "actions", Name: "Actions"})
	}
	if o.Recon != nil {
		v = append(v, navLink{Href: "recon", Name: "Reconciliation", ID: "recon-link"})
	}
	return v
}
