/* formats_st.c — see formats_st.h. */
#include "formats_st.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

uint8_t *st_build_raw(const char *header, const void *data, size_t data_len, size_t *size) {
    size_t h = strlen(header);
    uint8_t *img = malloc(8 + h + data_len + 1);
    if (!img)
        return NULL;
    for (int i = 0; i < 8; i++)
        img[i] = (uint8_t)((uint64_t)h >> (8 * i));
    memcpy(img + 8, header, h);
    if (data_len)
        memcpy(img + 8 + h, data, data_len);
    *size = 8 + h + data_len;
    return img;
}

uint8_t *st_build(const st_spec *t, int n, size_t *size) {
    size_t cap = 256 + (size_t)n * 512, len = 0, data_len = 0;
    char *hdr = malloc(cap);
    if (!hdr)
        return NULL;
    len += (size_t)snprintf(hdr + len, cap - len, "{\"__metadata__\":{\"format\":\"pt\"}");
    for (int i = 0; i < n; i++) {
        len += (size_t)snprintf(hdr + len, cap - len, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[", t[i].name, t[i].dtype);
        for (int d = 0; d < t[i].n_dims; d++)
            len += (size_t)snprintf(hdr + len, cap - len, "%s%lld", d ? "," : "", (long long)t[i].shape[d]);
        len += (size_t)snprintf(hdr + len, cap - len, "],\"data_offsets\":[%zu,%zu]}", data_len,
                                data_len + t[i].bytes);
        data_len += t[i].bytes;
    }
    len += (size_t)snprintf(hdr + len, cap - len, "}");
    while (len % 8 != 0 && len + 1 < cap) /* the reference writer pads the header with spaces */
        hdr[len++] = ' ';
    hdr[len] = 0;
    uint8_t *data = malloc(data_len + 1);
    size_t off = 0;
    for (int i = 0; data && i < n; i++) {
        if (t[i].bytes)
            memcpy(data + off, t[i].data, t[i].bytes);
        off += t[i].bytes;
    }
    uint8_t *img = data ? st_build_raw(hdr, data, data_len, size) : NULL;
    free(data);
    free(hdr);
    return img;
}

uint64_t st_header_len(const uint8_t *img) {
    uint64_t h = 0;
    for (int i = 7; i >= 0; i--)
        h = (h << 8) | img[i];
    return h;
}

char *st_tmpdir(void) {
    const char *base = getenv("TMPDIR");
    char tmpl[512];
    snprintf(tmpl, sizeof tmpl, "%s/trit-formats-XXXXXX", base && *base ? base : "/tmp");
    char *d = mkdtemp(tmpl);
    return d ? strdup(d) : NULL;
}

int st_write(const char *dir, const char *name, const void *img, size_t size) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t w = size ? fwrite(img, 1, size, f) : 0;
    return fclose(f) == 0 && w == size ? 0 : -1;
}

void st_rmtree(char *dir) {
    if (!dir)
        return;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    if (d)
        closedir(d);
    rmdir(dir);
    free(dir);
}
