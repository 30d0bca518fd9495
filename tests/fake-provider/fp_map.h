/*
 * fp_map.h - open-addressing hash map from C strings to pointers.
 *
 * Linear probing, power-of-two capacity, load factor at most 1/2, so a
 * lookup touches one or two cache lines even at 200k+ keys.  Deletion
 * shifts the following cluster back (no tombstones), so a table that sees
 * many expiries does not slow down.
 *
 * Keys and values are borrowed: the caller keeps both alive while they are
 * in the map (the ledger in fp_store.c owns them).
 */
#ifndef GD_FP_MAP_H
#define GD_FP_MAP_H

#include <stddef.h>
#include <stdint.h>

struct fp_map_slot {
    uint64_t hash;
    const char *key; /* NULL: empty slot */
    void *val;
};

struct fp_map {
    struct fp_map_slot *slots;
    size_t cap;   /* 0 or a power of two */
    size_t count; /* occupied slots */
};

/* An empty map; allocates nothing until the first put. */
void fp_map_init(struct fp_map *map);

/* Frees the slot array (not keys or values) and leaves an empty map. */
void fp_map_clear(struct fp_map *map);

/* The value stored under key, or NULL. */
void *fp_map_get(const struct fp_map *map, const char *key);

/* Inserts, or replaces key pointer and value when an equal key exists. */
void fp_map_put(struct fp_map *map, const char *key, void *val);

/* Removes key if present. */
void fp_map_del(struct fp_map *map, const char *key);

#endif
