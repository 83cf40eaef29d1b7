"""``ramp demo``: the whole loop, offline, in a few minutes.

The direct-edit agent works on the bundled tasks with the scripted model, through the real
scheduler, the real accounting and the real local evaluator, ramped in phases (config/demo.yaml).
The scripted answers (answers/*.yaml, one per bundled task) are written so that some tasks are
solved on the first try, some only after test or judge feedback, and some never (stuck, malformed
output, or a patch that passes the visible tests but not the hidden ones), so every branch of the
agent's loop and every outcome shows up in one run.
"""
