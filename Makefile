EXTENSION = crm
EXTVERSION = 0.3.0

MODULE_big = crm
OBJS = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c src/*/*.c))) src/phone.o
# src/phone.cpp is the shim over libphonenumber (C++, Debian's libphonenumber-dev)
SHLIB_LINK = -lphonenumber -lstdc++
# src/profiles.c: ISO 3166 countries from ICU, which PostgreSQL links already
SHLIB_LINK += -licuuc

# The install script is built from one file per domain, in dependency order.
SQL_SOURCES = \
	sql/workspaces.sql \
	sql/normalize.sql \
	sql/events.sql \
	sql/properties.sql \
	sql/members.sql \
	sql/modules.sql \
	sql/limits.sql \
	sql/contacts.sql \
	sql/companies.sql \
	sql/activities.sql \
	sql/conversations.sql \
	sql/merge.sql \
	sql/merge_companies.sql \
	sql/unmerge.sql \
	sql/identity.sql \
	sql/pipelines.sql \
	sql/deals.sql \
	sql/line_items.sql \
	sql/deal_records.sql \
	sql/deal_reports.sql \
	sql/forecast.sql \
	sql/orders.sql \
	sql/custom_objects.sql \
	sql/rollups.sql \
	sql/history.sql \
	sql/gdpr.sql \
	sql/import.sql \
	sql/jobs.sql \
	sql/cql.sql \
	sql/search.sql \
	sql/bulk.sql \
	sql/lists.sql \
	sql/saved_views.sql \
	sql/export.sql \
	sql/timelines.sql \
	sql/contact_pipelines.sql \
	sql/reporting.sql \
	sql/integrations.sql \
	sql/distribute.sql \
	sql/tenancy.sql \
	sql/privacy.sql

DATA_built = sql/$(EXTENSION)--$(EXTVERSION).sql
# The install scripts of released versions, frozen (test/t/upgrade.sh
# installs each and updates it to this version), and the update scripts.
RELEASED = $(wildcard sql/released/$(EXTENSION)--*.sql)
DATA = $(filter-out sql/released/$(EXTENSION)--$(EXTVERSION).sql,$(RELEASED)) \
	$(filter-out $(DATA_built),$(wildcard sql/$(EXTENSION)--*--*.sql))

TESTS = $(sort $(wildcard test/sql/*.sql))
REGRESS = $(patsubst test/sql/%.sql,%,$(TESTS))
REGRESS_OPTS = --inputdir=test --outputdir=test/output --load-extension=pg_trgm --load-extension=crm

ISOLATION = $(patsubst test/specs/%.spec,%,$(sort $(wildcard test/specs/*.spec)))
ISOLATION_OPTS = --inputdir=test --outputdir=test/output_iso --load-extension=pg_trgm --load-extension=crm

PG_CPPFLAGS = -Isrc -Wall -Wextra -Werror -Wno-unused-parameter -Wno-sign-compare -Wno-missing-field-initializers
# test/valgrind builds with CRM_VALGRIND=1: the C writers check that what they
# store is fully defined (CrmCheckDefined in src/crm.h)
ifdef CRM_VALGRIND
PG_CPPFLAGS += -DCRM_VALGRIND
endif
BUILD_FLAGS = src/.build-flags
EXTRA_CLEAN = $(DATA_built) test/output test/output_iso $(BUILD_FLAGS)

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

$(DATA_built): $(SQL_SOURCES)
	cat $^ > $@

# PGXS tracks no header dependencies: rebuild every object when a header
# changes, or when the build flags do
$(OBJS): $(wildcard src/*.h src/cql/*.h) $(BUILD_FLAGS)

$(BUILD_FLAGS): FORCE
	@echo 'CRM_VALGRIND=$(CRM_VALGRIND)' | cmp -s - $@ || echo 'CRM_VALGRIND=$(CRM_VALGRIND)' > $@

.PHONY: FORCE
FORCE:

.PHONY: test demo bench fuzz valgrind
test:
	bash test/run

demo:
	bash test/demo

bench:
	bash bench/run

# the long libFuzzer run of the CQL parser and translator (LONG_SECONDS, an hour by default)
fuzz:
	$(MAKE) -C test/fuzz long

# the regression suite with every backend under valgrind memcheck (slow; not part of test)
valgrind:
	PG_CONFIG="$(PG_CONFIG)" bash test/valgrind
