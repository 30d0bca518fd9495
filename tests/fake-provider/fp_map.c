/*
 * fp_map.c - open-addressing string map (see fp_map.h).
 */
#include "fp_map.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fp_base.h"

#define MAP_MIN_CAP 64

/* FNV-1a, then a murmur3 finaliser: FNV alone has weak low bits, and the
 * low bits pick the slot. */
static uint64_t map_hash(const char *key)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
        h ^= *p;
        h *= 0x100000001b3ULL;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

/* The slot holding key, or the empty slot where it belongs.  Needs cap > 0
 * and at least one empty slot, which the load factor guarantees. */
static struct fp_map_slot *map_probe(const struct fp_map *map, const char *key, uint64_t hash)
{
    size_t mask = map->cap - 1;
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
        struct fp_map_slot *slot = &map->slots[i];
        if (slot->key == NULL || (slot->hash == hash && strcmp(slot->key, key) == 0))
            return slot;
    }
}

static void map_grow(struct fp_map *map, size_t new_cap)
{
    struct fp_map_slot *old = map->slots;
    size_t old_cap = map->cap;

    map->slots = fp_xcalloc(new_cap, sizeof(*map->slots));
    map->cap = new_cap;
    map->count = 0;
    for (size_t i = 0; i < old_cap; i++) {
        if (old[i].key == NULL)
            continue;
        *map_probe(map, old[i].key, old[i].hash) = old[i];
        map->count++;
    }
    free(old);
}

void fp_map_init(struct fp_map *map)
{
    map->slots = NULL;
    map->cap = 0;
    map->count = 0;
}

void fp_map_clear(struct fp_map *map)
{
    free(map->slots);
    fp_map_init(map);
}

void *fp_map_get(const struct fp_map *map, const char *key)
{
    if (map->count == 0)
        return NULL;
    struct fp_map_slot *slot = map_probe(map, key, map_hash(key));
    return slot->key != NULL ? slot->val : NULL;
}

void fp_map_put(struct fp_map *map, const char *key, void *val)
{
    if ((map->count + 1) * 2 > map->cap)
        map_grow(map, map->cap ? map->cap * 2 : MAP_MIN_CAP);
    uint64_t hash = map_hash(key);
    struct fp_map_slot *slot = map_probe(map, key, hash);
    if (slot->key == NULL)
        map->count++;
    slot->hash = hash;
    slot->key = key;
    slot->val = val;
}

void fp_map_del(struct fp_map *map, const char *key)
{
    if (map->count == 0)
        return;
    struct fp_map_slot *hole = map_probe(map, key, map_hash(key));
    if (hole->key == NULL)
        return;
    /* Backward-shift deletion: walk the rest of the cluster and move back
     * every entry whose home slot is not between the hole and itself, so
     * probes never meet a gap before their key. */
    size_t mask = map->cap - 1;
    size_t i = (size_t)(hole - map->slots);
    for (size_t j = (i + 1) & mask; map->slots[j].key != NULL; j = (j + 1) & mask) {
        size_t home = map->slots[j].hash & mask;
        bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
        if (stays)
            continue;
        map->slots[i] = map->slots[j];
        i = j;
    }
    map->slots[i].key = NULL;
    map->slots[i].val = NULL;
    map->count--;
}
