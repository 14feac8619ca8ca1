# Variant: a helper function met(i) per level, highest first.
package airisk.level

import rego.v1

default level := "none"

level := "red" if met(3)
else := "orange" if met(2)
else := "yellow" if met(1)
else := "blue" if met(0)

rule := data.airisk.rules[input.rule]

t := rule.thresholds[input.grade]

above := object.get(rule, "direction", "above") == "above"

met(i) if {
	above
	t[i] != null
	input.value >= t[i]
}

met(i) if {
	not above
	t[i] != null
	input.value <= t[i]
}
