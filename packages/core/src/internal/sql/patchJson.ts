/**
 * A patch row `p` of `reprise.action_patches` as `reprise.apply_patches` takes it (a SQL
 * expression shared by the statements that apply stored patches).
 *
 * @internal
 */
export const patchJson = `jsonb_build_object(
    'schema', p.table_schema, 'table', p.table_name, 'rowId', p.row_id, 'op', p.op,
    'forward', p.forward, 'reverse', p.reverse)`
