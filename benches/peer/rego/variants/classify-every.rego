# Variant: each floor key checked by a helper function under `every` (slower under regorus).
package airisk.classify

import rego.v1

c := data.airisk.policy.classification

grades := data.airisk.policy.grades

rank[g.id] := i if some i, g in grades

caps := [c.capabilities[x].score | some x in input.capabilities]

groups := [c.vulnerable_groups[x].score | some x in input.vulnerable_groups]

mitigations := [c.mitigations[x].score | some x in input.mitigations]

steps := [s.score | some s in c.scale; s.min_users <= input.users]

default scale_points := 0

scale_points := steps[count(steps) - 1] if count(steps) > 0

score := ((((((c.sectors[input.sector].score + sum(caps)) + c.data[input.data].score) + c.autonomy[input.autonomy].score) + scale_points) + sum(groups)) + sum(mitigations)) if {
	count(caps) == count(input.capabilities)
	count(groups) == count(input.vulnerable_groups)
	count(mitigations) == count(input.mitigations)
}

score_ranks := [i | some i, g in grades; i > 0; g.min_score <= score]

default score_rank := 0

score_rank := max(score_ranks) if count(score_ranks) > 0

key_holds("sectors", l) if input.sector in l

key_holds("capabilities", l) if {
	some x in input.capabilities
	x in l
}

key_holds("data", l) if input.data in l

key_holds("autonomy", l) if input.autonomy in l

key_holds("vulnerable_groups", l) if {
	some x in input.vulnerable_groups
	x in l
}

key_holds("min_users", m) if input.users >= m

holds(w) if {
	every k, v in w {
		key_holds(k, v)
	}
}

held := [f | some f in c.floors; holds(f.when)]

grade_rank := max({score_rank} | {rank[f.grade] | some f in held})

result := {
	"grade": grades[grade_rank].id,
	"grade_rank": grade_rank,
	"score": score,
	"score_rank": score_rank,
	"floors": [f.id | some f in held],
}
