package destination

// Opened are destinations ready to use, in the order configured.
type Opened struct {
	Specs  []Spec
	Stores []Store
}

// OpenAll opens every destination, in the order given.
func OpenAll(specs []Spec, set Settings) (Opened, error) {
	var o Opened
	for _, spec := range specs {
		st, err := Open(spec, set)
		if err != nil {
			o.Close()
			return Opened{}, err
		}
		o.Specs, o.Stores = append(o.Specs, spec), append(o.Stores, st)
	}
	return o, nil
}

// Close ends the destinations' connections.
func (o Opened) Close() {
	for _, st := range o.Stores {
		st.Close()
	}
}
