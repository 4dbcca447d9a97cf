/* ember.h: the one header a program includes to use ember.
 * Installed as <ember.h>; the module headers it includes are installed under
 * <ember/...>.  Every public name starts with em_ or EM_. */
#ifndef EMBER_H
#define EMBER_H

#include <ember/common.h>
#include <ember/term.h>
#include <ember/etf.h>
#include <ember/runtime.h>
#include <ember/sup.h>
#include <ember/call.h>
#include <ember/server.h>
#include <ember/export.h>
#include <ember/epmd.h>
#include <ember/dist.h>
#include <ember/global.h>
#include <ember/pg.h>

#endif /* EMBER_H */
