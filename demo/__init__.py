"""The demo: a catalogue, a generator, a seeder and the tool sandbox's plan (see DESIGN: not imported
by the product; `manage.py seed_demo` and `dev.py run` use it).

- demo.catalogue: the fixed lists (accounts, scales, portfolios, applications, words, sandbox connections)
- demo.generation: the rows, made in memory from the catalogue, a seed, a scale and an anchor date
- demo.seeding: demo_seed(), the entry point `manage.py seed_demo` calls
- demo.sandbox: sandbox_plan(), what the tool sandbox serves for the seeded releases
"""
