"""Planning: profile -> snapshot -> policy -> plan, as library calls that ``numamove plan``,
``apply`` and the daemon share.

- ``snapshot``: a profile's report and the kernel as it is now -> the policy's snapshot.
- ``run``: record a profile in memory for a while, and plan from a report with a policy.

The policies themselves are pure (numamove.policy); carrying a plan out is numamove.move.apply.
Touches the kernel only through a Kernel and the library (scan, topology, profile).
"""
